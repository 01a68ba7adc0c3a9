"""Live-API baselines: each benchmarked question answered the way a live-API MCP server does it, with
openstacksdk through the simulator on every call (listing, then filtering/sorting/paging in Python).

Each function does the calls such a server needs for an answer comparable to the snapshot tool's
(first page of 50 where the tool pages); it is a lower bound of a live server's cost (no retries, no
per-row enrichment beyond what is listed). They return a small summary of the answer (a sanity check
that the work was done)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

PAGE = 50


def _servers(conn: Any, **filters: Any) -> list[Any]:
    return list(conn.compute.servers(details=True, all_projects=True, **filters))


def _page(rows: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    return sorted(rows, key=key)[:PAGE]


def search_instances(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """search_instances(search_term='web'): list every server, substring match on the name."""
    hits = [s for s in _servers(conn) if "web" in (s.name or "").lower()]
    page = _page(hits, lambda s: (s.name or "", s.id))
    return {"total": len(hits), "returned": len(page)}


def get_instance_details(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_instance_details(instance_names=X): Nova name filter (exact regex), then the image name and
    the project name for the match (flavor is embedded since compute 2.47)."""
    found = _servers(conn, name=f"^{re.escape(fill['server_name'])}$")
    out = []
    for s in found:
        image_id = (s.image or {}).get("id")
        image = conn.image.get_image(image_id).name if image_id else None
        project = conn.identity.get_project(s.project_id).name if s.project_id else None
        out.append({"id": s.id, "image": image, "project": project})
    return {"found": len(out)}


def get_instances_by_status(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_instances_by_status(status='ACTIVE'): Nova status filter, every page (for the total)."""
    rows = _servers(conn, status="ACTIVE")
    return {"total": len(rows), "returned": len(_page(rows, lambda s: (s.name or "", s.id)))}


def monitor_resources(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """monitor_resources(): hypervisors, resource providers, every server (allocations per project)."""
    hvs = list(conn.compute.hypervisors(details=True))
    rps = list(conn.placement.resource_providers())
    per_project: Counter[str] = Counter()
    for s in _servers(conn):
        per_project[s.project_id] += int((s.flavor or {}).get("vcpus") or 0)
    return {"hypervisors": len(hvs), "providers": len(rps), "top": per_project.most_common(1)}


def get_cluster_status(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_cluster_status(): hypervisors, servers, compute services, agents, networks, floating IPs,
    volumes, snapshots, volume services, stacks."""
    hvs = list(conn.compute.hypervisors(details=True))
    by_status = Counter(s.status for s in _servers(conn))
    services = list(conn.compute.services())
    agents = list(conn.network.agents())
    networks = list(conn.network.networks())
    fips = list(conn.network.ips())
    volumes = list(conn.block_storage.volumes(details=True, all_projects=True))
    snaps = list(conn.block_storage.snapshots(details=True, all_projects=True))
    vservices = list(conn.block_storage.services())
    stacks = list(conn.orchestration.stacks())
    return {"hypervisors": len(hvs), "servers": dict(by_status), "services": len(services), "agents": len(agents),
            "networks": len(networks), "fips": len(fips), "volumes": len(volumes), "snapshots": len(snaps),
            "volume_services": len(vservices), "stacks": len(stacks)}


def get_service_status(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_service_status(): Nova services, Neutron agents, Cinder services, Keystone services+endpoints."""
    services = list(conn.compute.services())
    agents = list(conn.network.agents())
    vservices = list(conn.block_storage.services())
    ks = list(conn.identity.services())
    eps = list(conn.identity.endpoints())
    down = [s for s in services if s.state == "down"] + [a for a in agents if not a.is_alive]
    return {"services": len(services) + len(agents) + len(vservices), "down": len(down), "endpoints": len(eps),
            "catalog": len(ks)}


def get_floating_ips(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_floating_ips(): every floating IP, networks and routers (names), then the instance behind
    each associated address of the first page (port, then server)."""
    fips = list(conn.network.ips())
    nets = {n.id: n.name for n in conn.network.networks()}
    routers = {r.id: r.name for r in conn.network.routers()}
    page = _page(fips, lambda f: f.floating_ip_address or "")
    servers = {}
    for f in page:
        if f.port_id:
            port = conn.network.get_port(f.port_id)
            if port.device_id and port.device_id not in servers:
                servers[port.device_id] = conn.compute.get_server(port.device_id).name
    return {"total": len(fips), "networks": len(nets), "routers": len(routers), "instances": len(servers)}


def get_volume_list(conn: Any, fill: dict[str, str]) -> dict[str, Any]:
    """get_volume_list(): every volume of every project, volume types, then the attached instances'
    names for the first page."""
    volumes = list(conn.block_storage.volumes(details=True, all_projects=True))
    types = list(conn.block_storage.types())
    page = _page(volumes, lambda v: (v.name or "", v.id))
    names = {}
    for v in page:
        for att in v.attachments or []:
            sid = att.get("server_id")
            if sid and sid not in names:
                names[sid] = conn.compute.get_server(sid).name
    return {"total": len(volumes), "types": len(types), "attached_instances": len(names)}


BASELINES: dict[str, Callable[[Any, dict[str, str]], dict[str, Any]]] = {
    "search_instances": search_instances,
    "get_instance_details": get_instance_details,
    "get_instances_by_status": get_instances_by_status,
    "monitor_resources": monitor_resources,
    "get_cluster_status": get_cluster_status,
    "get_service_status": get_service_status,
    "get_floating_ips": get_floating_ips,
    "get_volume_list": get_volume_list,
}
