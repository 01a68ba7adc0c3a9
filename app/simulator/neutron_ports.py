"""Neutron ports (compact records rendered with :data:`app.simulator.neutron.PORT_DEFAULTS`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso, json_body, new_id
from app.simulator.neutron import (
    PORT_DEFAULTS, add_port, allocate_ip, idx, new_mac, port_fixed_ips, project_default_sg, release_ip,
    remove_port, render_port,
)
from app.simulator.neutron_api import Spec, body_of, get_or_404, list_handler, req_project, show_handler

UPDATABLE = ("name", "description", "admin_state_up", "device_id", "device_owner", "security_groups",
             "fixed_ips", "binding:host_id", "binding:profile", "binding:vnic_type", "allowed_address_pairs",
             "port_security_enabled", "dns_name", "qos_policy_id", "extra_dhcp_opts", "mac_address")


def _fixed_ips_filter(rec: dict[str, Any], wanted: list[str]) -> bool:
    """``fixed_ips=ip_address=10.0.0.5`` / ``subnet_id=...`` / ``ip_address_substr=...`` (all must match)."""
    fips = port_fixed_ips(rec)
    for w in wanted:
        k, _, v = w.partition("=")
        if k == "ip_address_substr":
            ok = any(v in f["ip_address"] for f in fips)
        else:
            ok = any(f.get(k) == v for f in fips)
        if not ok:
            return False
    return True


def resolve_fixed_ips(sim: Simulator, net: dict[str, Any], wanted: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """Allocate the addresses a port create/update asks for (default: one on the first IPv4 subnet)."""
    out: list[dict[str, str]] = []
    if not wanted:
        for sid in net["subnets"]:
            sub = sim.state.get("subnets", sid)
            if sub is not None:
                out.append({"subnet_id": sid, "ip_address": allocate_ip(sim, sub)})
                break
        return out
    for f in wanted:
        sid = f.get("subnet_id")
        if sid is None and f.get("ip_address"):
            for s in net["subnets"]:
                sub = sim.state.get("subnets", s)
                if sub is not None:
                    import ipaddress

                    if ipaddress.ip_address(f["ip_address"]) in ipaddress.ip_network(sub["cidr"]):
                        sid = s
                        break
        sub = sim.state.get("subnets", sid) if sid else None
        if sub is None or sub["network_id"] != net["id"]:
            for done in out:
                release_ip(sim, done["subnet_id"], done["ip_address"])
            raise SimHTTPError(400, f"Invalid input for operation: Failed to create port on network {net['id']}, "
                                    "because fixed_ips included invalid subnet.")
        out.append({"subnet_id": sub["id"], "ip_address": allocate_ip(sim, sub, f.get("ip_address"))})
    return out


def routes(sim: Simulator) -> list[BaseRoute]:
    spec = Spec("ports", "port", lambda s, r: render_port(r), "Port", defaults=PORT_DEFAULTS,
                special={"fixed_ips": _fixed_ips_filter})

    def check_sgs(ids: list[str]) -> None:
        for sg in ids:
            if sim.state.get("security_groups", sg) is None:
                raise SimHTTPError(404, f"Security group {sg} does not exist")

    async def create_port(request: Request) -> Response:
        body = await body_of(request, "port")
        nid = body.get("network_id")
        if not nid:
            raise SimHTTPError(400, "Failed to parse request. Required attribute 'network_id' not specified")
        net = sim.state.get("networks", nid)
        if net is None:
            raise SimHTTPError(404, f"Network {nid} could not be found.")
        project = req_project(request, body)
        mac = body.get("mac_address") or new_mac(sim)
        if body.get("mac_address") and any(p["mac_address"] == mac and p["network_id"] == nid
                                           for p in sim.state.values("ports")):
            raise SimHTTPError(409, f"Unable to complete operation for network {nid}. The mac address {mac} is in use.")
        sgs = body.get("security_groups")
        if sgs is None:
            sgs = list(project_default_sg(sim, project))
        check_sgs(sgs)
        fixed = resolve_fixed_ips(sim, net, body.get("fixed_ips"))
        t = iso(sim.now())
        rec: dict[str, Any] = {
            "id": new_id(), "network_id": nid, "project_id": project, "mac_address": mac,
            "fixed_ips": fixed, "security_groups": sgs, "status": "DOWN", "created_at": t, "updated_at": t,
            "revision_number": 1,
        }
        for k in UPDATABLE:
            if k in body and k not in rec:
                rec[k] = body[k]
        if rec.get("device_owner", "").startswith(("network:router", "network:floatingip")):
            rec["status"] = "ACTIVE"
        elif rec.get("device_id") and rec.get("binding:host_id"):
            sim.schedule(rec, {"status": "ACTIVE"})
        add_port(sim, rec)
        return json_body({"port": render_port(rec)}, 201)

    async def update_port(request: Request) -> Response:
        rec = get_or_404(sim, request, spec, request.path_params["id"])
        body = await body_of(request, "port")
        for k in body:
            if k not in UPDATABLE:
                raise SimHTTPError(400, f"Cannot update read-only attribute {k}")
        if "security_groups" in body:
            check_sgs(body["security_groups"] or [])
            rec["security_groups"] = list(body["security_groups"] or [])
        if "fixed_ips" in body:
            net = sim.state.get("networks", rec["network_id"])
            old = port_fixed_ips(rec)
            for f in old:
                release_ip(sim, f["subnet_id"], f["ip_address"])
            try:
                rec["fixed_ips"] = resolve_fixed_ips(sim, net or {"id": "", "subnets": []}, body["fixed_ips"])
            except SimHTTPError:
                for f in old:
                    idx(sim).used_ips.setdefault(f["subnet_id"], set()).add(f["ip_address"])
                raise
            rec.pop("_ip", None)
            rec.pop("_subnet", None)
        if "device_id" in body and body["device_id"] != rec.get("device_id"):
            ix = idx(sim)
            old_dev = rec.get("device_id")
            if old_dev and rec["id"] in ix.ports_by_device.get(old_dev, []):
                ix.ports_by_device[old_dev].remove(rec["id"])
                if not ix.ports_by_device[old_dev]:
                    del ix.ports_by_device[old_dev]
            if body["device_id"]:
                ix.ports_by_device.setdefault(body["device_id"], []).append(rec["id"])
        for k, v in body.items():
            if k not in ("security_groups", "fixed_ips"):
                rec[k] = v
        rec["updated_at"] = iso(sim.now())
        rec["revision_number"] = rec.get("revision_number", PORT_DEFAULTS["revision_number"]) + 1
        return json_body({"port": render_port(rec)})

    async def delete_port(request: Request) -> Response:
        rec = get_or_404(sim, request, spec, request.path_params["id"])
        if rec.get("device_owner") == "network:router_interface":
            raise SimHTTPError(409, f"Port {rec['id']} cannot be deleted directly via the port API: has device "
                                    f"owner network:router_interface.")
        remove_port(sim, rec["id"])
        return Response(status_code=204)

    return [
        Route("/v2.0/ports", list_handler(sim, spec), methods=["GET"]),
        Route("/v2.0/ports", create_port, methods=["POST"]),
        Route("/v2.0/ports/{id}", show_handler(sim, spec, "id"), methods=["GET"]),
        Route("/v2.0/ports/{id}", update_port, methods=["PUT"]),
        Route("/v2.0/ports/{id}", delete_port, methods=["DELETE"]),
    ]
