"""Nova: server creation (scheduling onto a hypervisor, BUILD -> ACTIVE), interface and volume
attachment views."""

from __future__ import annotations

import secrets
import string
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso, json_body, new_id, read_json
from app.simulator.nova_common import MV, RUNNING, base, bump, host_usage, is_admin, token
from app.simulator.nova_servers import FAULT_MSG, get_server, links_for

RAM_RATIO, CPU_RATIO, RESERVED_MB = 1.5, 16.0, 512


def pick_host(sim: Simulator, flavor: dict[str, Any], az: str | None, *, only: str | None = None,
              exclude: str | None = None) -> dict[str, Any] | None:
    """The enabled, up hypervisor (in ``az``; ``only`` that host; never ``exclude``) with the most free RAM
    that fits ``flavor`` (RAM/CPU ratios)."""
    from app.simulator.nova_hosts import service_is_up

    usage = host_usage(sim)
    best, best_free = None, -1.0
    for h in sim.state.values("hypervisors"):
        if (az and h["_az"] != az) or (only and h["host"] != only) or (exclude and h["host"] == exclude):
            continue
        svc = sim.state.get("compute_services", h["_service"])
        if svc is None or svc["status"] != "enabled" or not service_is_up(sim, svc):
            continue
        u = usage.get(h["host"], (0, 0, 0, 0, 0))
        free_ram = (h["memory_mb"] - RESERVED_MB) * RAM_RATIO - u[1]
        free_cpu = h["vcpus"] * CPU_RATIO - u[0]
        if free_ram >= flavor["ram"] and free_cpu >= flavor["vcpus"] and free_ram > best_free:
            best, best_free = h, free_ram
    return best


def next_instance_number(sim: Simulator) -> int:
    n = getattr(sim, "_nova_seq", 0) + 1
    sim._nova_seq = n  # type: ignore[attr-defined]
    return n


def create_server(sim: Simulator, project_id: str, user_id: str, spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Create a server from a (validated) request body; returns (record, adminPass)."""
    from app.simulator import neutron

    flavor = sim.state.get("flavors", str(spec.get("flavorRef", "")).rsplit("/", 1)[-1])
    if flavor is None:
        raise SimHTTPError(400, "Invalid flavorRef provided.")
    image_id = str(spec.get("imageRef") or "").rsplit("/", 1)[-1]
    if image_id and sim.state.get("images", image_id) is None:
        raise SimHTTPError(400, f"Image {image_id} could not be found.")
    if not image_id and not spec.get("block_device_mapping_v2"):
        raise SimHTTPError(400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
                                "device mapping combination is not valid.")
    az = spec.get("availability_zone") or None
    if az and az not in {h["_az"] for h in sim.state.values("hypervisors")}:
        raise SimHTTPError(400, "The requested availability zone is not available")
    key_name = spec.get("key_name")
    if key_name and sim.state.get("keypairs", f"{user_id}:{key_name}") is None:
        raise SimHTTPError(400, "Invalid key_name provided.")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise SimHTTPError(400, "Invalid input for field/attribute name. Value: %s." % name)
    networks = spec.get("networks", "auto")
    net_ids: list[str | None] = []
    if isinstance(networks, list):
        for n in networks:
            nid = n.get("uuid") if isinstance(n, dict) else None
            if nid and sim.state.get("networks", nid) is None:
                raise SimHTTPError(400, f"Network {nid} could not be found.")
            net_ids.append(nid)
    elif networks == "auto":
        net_ids.append(None)
    now = sim.now()
    host = pick_host(sim, flavor, az)
    ud = spec.get("user_data")
    rec: dict[str, Any] = {
        "id": new_id(), "name": name, "tenant_id": project_id, "user_id": user_id, "status": "BUILD",
        "OS-EXT-STS:vm_state": "building", "OS-EXT-STS:task_state": "scheduling", "OS-EXT-STS:power_state": 0,
        "OS-EXT-SRV-ATTR:host": None, "OS-EXT-SRV-ATTR:hypervisor_hostname": None,
        "OS-EXT-AZ:availability_zone": az or (host["_az"] if host else ""), "created": iso(now), "updated": iso(now),
        "_launched": None, "_flavor": flavor["id"], "_image": image_id, "key_name": key_name or None,
        "metadata": dict(spec.get("metadata") or {}), "tags": list(spec.get("tags") or []),
        "_n": next_instance_number(sim), "_ud": ud if isinstance(ud, str) else None, "locked": False,
        "_desc": spec.get("description"), "_pinned_az": az, "_hints": {},
        "_cd": "True" if spec.get("config_drive") else "",
    }
    sim.state.add("servers", rec)
    half = sim.transition_seconds / 2
    if host is None:
        sim.schedule(rec, {"OS-EXT-STS:vm_state": "error", "OS-EXT-STS:task_state": None, "status": "ERROR",
                           "_fault": lambda r: r.__setitem__("_fault", (500, sim.now(), FAULT_MSG))}, after=half)
    else:
        rec.update({"OS-EXT-SRV-ATTR:host": host["host"], "OS-EXT-SRV-ATTR:hypervisor_hostname":
                    host["hypervisor_hostname"], "OS-EXT-STS:task_state": "spawning"})
        for nid in net_ids:
            neutron.attach_server_port(sim, rec, nid)
        sim.schedule(rec, {"OS-EXT-STS:vm_state": "active", "OS-EXT-STS:task_state": None, "status": "ACTIVE",
                           "OS-EXT-STS:power_state": RUNNING,
                           "_launched": lambda r: r.__setitem__("_launched", sim.now())}, after=2 * half)
    bump(sim)
    alphabet = string.ascii_letters + string.digits
    return rec, "".join(secrets.choice(alphabet) for _ in range(12))


async def post_server(sim: Simulator, request: Request, mv: MV) -> Response:
    body = await read_json(request)
    spec = body.get("server") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        raise SimHTTPError(400, "Invalid input for field/attribute server. Value: None. None is not of type 'object'")
    if mv >= (2, 37) and "networks" not in spec:
        raise SimHTTPError(400, "Invalid input for field/attribute server. Value: %s. 'networks' is a required "
                                "property" % spec)
    tok = token(request)
    rec, admin_pass = create_server(sim, tok.project_id or "", tok.user_id, spec)
    sgs = spec.get("security_groups") or [{"name": "default"}]
    out = {"server": {"id": rec["id"], "links": links_for(base(request), rec["id"]), "OS-DCF:diskConfig": "MANUAL",
                      "security_groups": sgs, "adminPass": admin_pass}}
    return json_body(out, status=202, headers={"Location": f"{base(request)}/v2.1/servers/{rec['id']}"})


# ----------------------------------------------------------------------------------------------
# Attachments


async def interfaces(sim: Simulator, request: Request, mv: MV) -> Response:
    from app.simulator import neutron

    s = get_server(sim, request, request.path_params["id"])
    out = []
    for pid in neutron.idx(sim).ports_by_device.get(s["id"], ()):
        p = sim.state.get("ports", pid)
        if p is None:
            continue
        item: dict[str, Any] = {"port_state": neutron.render_port(p)["status"], "port_id": p["id"],
                                "net_id": p["network_id"], "mac_addr": p["mac_address"],
                                "fixed_ips": [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                                              for f in neutron.port_fixed_ips(p)]}
        if mv >= (2, 70):
            item["tag"] = None
        out.append(item)
    return json_body({"interfaceAttachments": out})


async def volume_attachments(sim: Simulator, request: Request, mv: MV) -> Response:
    from app.simulator import cinder

    s = get_server(sim, request, request.path_params["id"])
    out = []
    for i, v in enumerate(cinder.server_volume_ids(sim, s["id"])):
        vid = v if isinstance(v, str) else v["id"]
        item: dict[str, Any] = {"device": f"/dev/vd{chr(ord('b') + i)}", "serverId": s["id"], "volumeId": vid}
        if mv < (2, 89):
            item["id"] = vid
        if mv >= (2, 70):
            item["tag"] = None
        if mv >= (2, 79):
            item["delete_on_termination"] = False if isinstance(v, str) else bool(v.get("delete_on_termination"))
        if mv >= (2, 89):
            vol = sim.state.get("volumes", vid) or {}
            att = next((a for a in vol.get("attachments", ()) if a.get("server_id") == s["id"]), {})
            item["attachment_id"] = att.get("attachment_id") or new_id()
            item["bdm_uuid"] = new_id()
        out.append(item)
    return json_body({"volumeAttachments": out})


async def limits(sim: Simulator, request: Request, mv: MV) -> Response:
    """``/limits``: the project's compute quotas and usage (``tenant_id`` for admins), from the quota
    model ``os-quota-sets`` reports (app/simulator/quotas.py)."""
    from app.simulator.quotas import nova_absolute_limits

    tok = token(request)
    project = request.query_params.get("tenant_id") if is_admin(request) else None
    project = project or tok.project_id
    absolute = nova_absolute_limits(sim, project, tok.user_id, mv)
    return json_body({"limits": {"absolute": absolute, "rate": []}})
