"""Nova: hypervisors (fields per microversion), compute services and availability zones.

Capacity/usage are derived at request time from the servers on each host (cached per change
generation, see :func:`app.simulator.nova_common.host_usage`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso_micro, json_body, paginate
from app.simulator.nova_common import MV, host_usage, require_admin, truthy

SERVICE_DOWN_TIME = 60.0
RESERVED_HOST_MB = 512


def service_updated(sim: Simulator, svc: dict[str, Any]) -> float:
    """Last heartbeat: ``_stale_since`` for a dead service, else a few seconds ago."""
    if svc.get("_stale_since") is not None:
        return svc["_stale_since"]
    return sim.now() - svc.get("_lag", 3)


def service_is_up(sim: Simulator, svc: dict[str, Any]) -> bool:
    return not svc.get("forced_down") and sim.now() - service_updated(sim, svc) <= SERVICE_DOWN_TIME


# ----------------------------------------------------------------------------------------------
# Hypervisors


def render_hypervisor(sim: Simulator, h: dict[str, Any], mv: MV, detail: bool, usage: dict[str, list[int]],
                      servers: list[dict[str, str]] | None) -> dict[str, Any]:
    svc = sim.state.get("compute_services", h["_service"]) or {}
    uuid_ids = mv >= (2, 53)
    out: dict[str, Any] = {
        "id": h["id"] if uuid_ids else h["_int"], "hypervisor_hostname": h["hypervisor_hostname"],
        "state": "up" if service_is_up(sim, svc) else "down", "status": svc.get("status", "enabled"),
    }
    if detail:
        out.update(hypervisor_type=h["hypervisor_type"], hypervisor_version=h["hypervisor_version"],
                   host_ip=h["host_ip"])
        out["service"] = {"id": svc.get("id") if uuid_ids else svc.get("_int"), "host": h["host"],
                          "disabled_reason": svc.get("disabled_reason")}
    if detail and mv < (2, 88):
        u = usage.get(h["host"], (0, 0, 0, 0, 0))
        mem_used = u[1] + RESERVED_HOST_MB
        out.update(vcpus=h["vcpus"], memory_mb=h["memory_mb"], local_gb=h["local_gb"], vcpus_used=u[0],
                   memory_mb_used=mem_used, local_gb_used=u[2], free_ram_mb=h["memory_mb"] - mem_used,
                   free_disk_gb=h["local_gb"] - u[2], current_workload=u[4], running_vms=u[3],
                   disk_available_least=h["local_gb"] - u[2] - h["_disk_overhead"])
        import json as _json

        out["cpu_info"] = h["cpu_info"] if mv >= (2, 28) else _json.dumps(h["cpu_info"])
    if detail and mv >= (2, 88):
        up = out["state"] == "up"
        secs = int(sim.now() - h["_boot"])
        out["uptime"] = (f" {iso_micro(sim.now())[11:19]} up {secs // 86400} days, {secs % 86400 // 3600}:"
                         f"{secs % 3600 // 60:02d},  1 user,  load average: 0.52, 0.61, 0.58") if up else None
    if servers is not None:
        if servers or mv >= (2, 75):
            out["servers"] = servers
    return out


def _servers_by_host(sim: Simulator) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for s in sim.state.values("servers"):
        if s["OS-EXT-SRV-ATTR:host"]:
            out.setdefault(s["OS-EXT-SRV-ATTR:host"], []).append({"name": s["name"], "uuid": s["id"]})
    return out


async def list_hypervisors(sim: Simulator, request: Request, mv: MV) -> Response:
    require_admin(request, "os_compute_api:os-hypervisors:list")
    detail = request.url.path.rstrip("/").endswith("/detail")
    q = request.query_params
    items = list(sim.state.values("hypervisors"))
    with_servers = mv >= (2, 53) and truthy(q.get("with_servers"))
    pattern = q.get("hypervisor_hostname_pattern") if mv >= (2, 53) else None
    nxt: list[dict[str, str]] = []
    if pattern is not None:
        if "limit" in q or "marker" in q:
            raise SimHTTPError(400, "Paging over hypervisors with the hypervisor_hostname_pattern query parameter "
                                    "is not supported.")
        items = [h for h in items if pattern in h["hypervisor_hostname"]]
        if not items:
            raise SimHTTPError(404, f"No hypervisor matching '{pattern}' could be found.")
    elif mv >= (2, 33):
        key = "id" if mv >= (2, 53) else "_ikey"
        items, nxt = paginate(request, items, "hypervisors", key=key)
    usage = host_usage(sim) if detail and mv < (2, 88) else {}
    by_host = _servers_by_host(sim) if with_servers else {}
    body: dict[str, Any] = {"hypervisors": [
        render_hypervisor(sim, h, mv, detail, usage, by_host.get(h["host"], []) if with_servers else None)
        for h in items]}
    if nxt:
        body["hypervisors_links"] = nxt
    return json_body(body)


def _find_hypervisor(sim: Simulator, hid: str, mv: MV) -> dict[str, Any]:
    for h in sim.state.values("hypervisors"):
        if (mv >= (2, 53) and h["id"] == hid) or (mv < (2, 53) and str(h["_int"]) == hid):
            return h
    if mv >= (2, 53):
        raise SimHTTPError(400 if len(hid) != 36 else 404, f"Hypervisor with ID '{hid}' could not be found."
                           if len(hid) == 36 else f"Invalid uuid {hid}")
    raise SimHTTPError(404, f"Hypervisor with ID '{hid}' could not be found.")


async def show_hypervisor(sim: Simulator, request: Request, mv: MV) -> Response:
    require_admin(request, "os_compute_api:os-hypervisors:show")
    h = _find_hypervisor(sim, request.path_params["id"], mv)
    with_servers = mv >= (2, 53) and truthy(request.query_params.get("with_servers"))
    servers = _servers_by_host(sim).get(h["host"], []) if with_servers else None
    usage = host_usage(sim) if mv < (2, 88) else {}
    return json_body({"hypervisor": render_hypervisor(sim, h, mv, True, usage, servers)})


async def hypervisor_uptime(sim: Simulator, request: Request, mv: MV) -> Response:
    if mv >= (2, 88):
        raise SimHTTPError(404, "The resource could not be found.")
    h = _find_hypervisor(sim, request.path_params["id"], mv)
    out = render_hypervisor(sim, h, (2, 88), True, {}, None)
    body = render_hypervisor(sim, h, mv, False, {}, None)
    body["uptime"] = out["uptime"]
    return json_body({"hypervisor": body})


async def statistics(sim: Simulator, request: Request, mv: MV) -> Response:
    if mv >= (2, 88):
        raise SimHTTPError(404, "The resource could not be found.")
    require_admin(request, "os_compute_api:os-hypervisors:statistics")
    usage = host_usage(sim)
    keys = ("count", "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least")
    tot = dict.fromkeys(keys, 0)
    for h in sim.state.values("hypervisors"):
        d = render_hypervisor(sim, h, (2, 87), True, usage, None)
        tot["count"] += 1
        for k in keys[1:]:
            tot[k] += d[k]
    return json_body({"hypervisor_statistics": tot})


# ----------------------------------------------------------------------------------------------
# Compute services and availability zones


def render_service(sim: Simulator, svc: dict[str, Any], mv: MV) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": svc["id"] if mv >= (2, 53) else svc["_int"], "binary": svc["binary"],
        "disabled_reason": svc.get("disabled_reason"), "host": svc["host"],
        "state": "up" if service_is_up(sim, svc) else "down", "status": svc["status"],
        "updated_at": iso_micro(service_updated(sim, svc)), "zone": svc["zone"],
    }
    if mv >= (2, 11):
        out["forced_down"] = bool(svc.get("forced_down"))
    return out


async def list_services(sim: Simulator, request: Request, mv: MV) -> Response:
    require_admin(request, "os_compute_api:os-services:list")
    q = request.query_params
    items = [render_service(sim, s, mv) for s in sim.state.values("compute_services")
             if ("host" not in q or s["host"] == q["host"]) and ("binary" not in q or s["binary"] == q["binary"])]
    return json_body({"services": items})


async def update_service(sim: Simulator, request: Request, mv: MV) -> Response:
    from app.simulator.core import read_json

    require_admin(request, "os_compute_api:os-services:update")
    svc = sim.state.get("compute_services", request.path_params["id"])
    if svc is None or mv < (2, 53):
        raise SimHTTPError(404, f"Service {request.path_params['id']} not found.")
    body = await read_json(request)
    if "status" in body:
        svc["status"] = body["status"]
        svc["disabled_reason"] = body.get("disabled_reason") if body["status"] == "disabled" else None
    if "forced_down" in body:
        svc["forced_down"] = bool(body["forced_down"])
    return json_body({"service": render_service(sim, svc, mv)})


async def availability_zones(sim: Simulator, request: Request, mv: MV) -> Response:
    detail = request.url.path.rstrip("/").endswith("/detail")
    if detail:
        require_admin(request, "os_compute_api:os-availability-zone:detail")
    zones: dict[str, dict[str, Any]] = {}
    for svc in sim.state.values("compute_services"):
        if not detail and svc["zone"] == "internal":
            continue
        z = zones.setdefault(svc["zone"], {})
        z.setdefault(svc["host"], {})[svc["binary"]] = {
            "available": svc["status"] == "enabled", "active": service_is_up(sim, svc),
            "updated_at": iso_micro(service_updated(sim, svc))}
    info = []
    for name, hosts in zones.items():
        available = any(b["available"] and b["active"] for h in hosts.values() for b in h.values()) \
            or name == "internal"
        info.append({"zoneName": name, "zoneState": {"available": available}, "hosts": hosts if detail else None})
    return json_body({"availabilityZoneInfo": info})
