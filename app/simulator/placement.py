"""Placement simulator: one resource provider per hypervisor (uuid = hypervisor uuid), inventories with
allocation ratios and reserved amounts, usages and allocations derived from the servers at request time."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import ServiceDef, SimHTTPError, Simulator, error_response, json_body
from app.simulator.nova_common import host_usage
from app.simulator.releases import fmt

MV = tuple[int, int]
RATIOS = {"VCPU": 16.0, "MEMORY_MB": 1.5, "DISK_GB": 1.0}
RESERVED = {"VCPU": 0, "MEMORY_MB": 512, "DISK_GB": 0}


def negotiate(sim: Simulator, request: Request) -> MV:
    rel = sim.release
    raw = None
    for part in request.headers.get("openstack-api-version", "").split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "placement":
            raw = ver.strip()
    if raw is None:
        return rel.placement_min
    if raw.lower() == "latest":
        return rel.placement_max
    m = re.match(r"^([1-9]\d*)\.(\d+)$", raw)
    if not m:
        raise SimHTTPError(400, f"invalid version string: {raw}")
    v = (int(m.group(1)), int(m.group(2)))
    if not rel.placement_min <= v <= rel.placement_max:
        raise SimHTTPError(406, f"Unacceptable version header: {raw}")
    return v


def pbind(sim: Simulator, fn: Callable[[Simulator, Request, MV], Awaitable[Response]]) -> Callable[[Request],
                                                                                                  Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            mv = negotiate(sim, request)
        except SimHTTPError as e:
            return error_response(e.status, e.message, "placement")
        h = {"OpenStack-API-Version": f"placement {fmt(mv)}", "Vary": "openstack-api-version"}
        try:
            resp = await fn(sim, request, mv)
        except SimHTTPError as e:
            return error_response(e.status, e.message, "placement", h)
        resp.headers.update(h)
        return resp

    return endpoint


def _usage(sim: Simulator, h: dict[str, Any]) -> dict[str, int]:
    u = host_usage(sim).get(h["host"], (0, 0, 0, 0, 0))
    return {"VCPU": u[0], "MEMORY_MB": u[1], "DISK_GB": u[2]}


def _generation(sim: Simulator, h: dict[str, Any]) -> int:
    return 2 + host_usage(sim).get(h["host"], (0, 0, 0, 0, 0))[3]


def render_rp(sim: Simulator, h: dict[str, Any], mv: MV) -> dict[str, Any]:
    u = h["id"]
    b = f"/placement/resource_providers/{u}"
    links = [{"rel": "self", "href": b}, {"rel": "inventories", "href": b + "/inventories"},
             {"rel": "usages", "href": b + "/usages"}]
    if mv >= (1, 1):
        links.append({"rel": "aggregates", "href": b + "/aggregates"})
    if mv >= (1, 6):
        links.append({"rel": "traits", "href": b + "/traits"})
    if mv >= (1, 11):
        links.append({"rel": "allocations", "href": b + "/allocations"})
    out: dict[str, Any] = {"uuid": u, "name": h["hypervisor_hostname"], "generation": _generation(sim, h),
                           "links": links}
    if mv >= (1, 14):
        out["parent_provider_uuid"] = None
        out["root_provider_uuid"] = u
    return out


def _rp(sim: Simulator, uuid: str) -> dict[str, Any]:
    h = sim.state.get("hypervisors", uuid)
    if h is None:
        raise SimHTTPError(404, f"No resource provider with uuid {uuid} found")
    return h


def inventories_of(h: dict[str, Any]) -> dict[str, dict[str, Any]]:
    totals = {"VCPU": h["vcpus"], "MEMORY_MB": h["memory_mb"], "DISK_GB": h["local_gb"]}
    return {rc: {"total": t, "reserved": RESERVED[rc], "min_unit": 1, "max_unit": t, "step_size": 1,
                 "allocation_ratio": RATIOS[rc]} for rc, t in totals.items()}


async def list_rps(sim: Simulator, request: Request, mv: MV) -> Response:
    q = request.query_params
    items = []
    for h in sim.state.values("hypervisors"):
        if "name" in q and h["hypervisor_hostname"] != q["name"]:
            continue
        if "uuid" in q and h["id"] != q["uuid"]:
            continue
        if "in_tree" in q and h["id"] != q["in_tree"]:
            continue
        items.append(render_rp(sim, h, mv))
    return json_body({"resource_providers": items})


async def show_rp(sim: Simulator, request: Request, mv: MV) -> Response:
    return json_body(render_rp(sim, _rp(sim, request.path_params["uuid"]), mv))


async def inventories(sim: Simulator, request: Request, mv: MV) -> Response:
    h = _rp(sim, request.path_params["uuid"])
    inv = inventories_of(h)
    rc = request.path_params.get("rc")
    if rc is not None:
        if rc not in inv:
            raise SimHTTPError(404, f"No inventory of class {rc} found for resource provider {h['id']}")
        return json_body({**inv[rc], "resource_provider_generation": _generation(sim, h)})
    return json_body({"inventories": inv, "resource_provider_generation": _generation(sim, h)})


async def usages(sim: Simulator, request: Request, mv: MV) -> Response:
    h = _rp(sim, request.path_params["uuid"])
    return json_body({"usages": _usage(sim, h), "resource_provider_generation": _generation(sim, h)})


def _server_resources(sim: Simulator, s: dict[str, Any]) -> dict[str, int]:
    f = sim.state.get("flavors", s["_flavor"]) or {"vcpus": 0, "ram": 0, "disk": 0, "OS-FLV-EXT-DATA:ephemeral": 0,
                                                   "swap": 0}
    return {"VCPU": f["vcpus"], "MEMORY_MB": f["ram"],
            "DISK_GB": f["disk"] + f["OS-FLV-EXT-DATA:ephemeral"] + (f["swap"] or 0) // 1024}


def _occupies(s: dict[str, Any]) -> bool:
    return bool(s["OS-EXT-SRV-ATTR:host"]) and s["OS-EXT-STS:vm_state"] != "shelved_offloaded"


async def project_usages(sim: Simulator, request: Request, mv: MV) -> Response:
    if mv < (1, 9):
        raise SimHTTPError(404, "The resource could not be found.")
    q = request.query_params
    if "project_id" not in q:
        raise SimHTTPError(400, "Invalid query string parameters: 'project_id' is a required property")
    totals = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    count = 0
    for s in sim.state.values("servers"):
        if s["tenant_id"] != q["project_id"] or ("user_id" in q and s["user_id"] != q["user_id"]) or not _occupies(s):
            continue
        count += 1
        for rc, v in _server_resources(sim, s).items():
            totals[rc] += v
    if mv >= (1, 38):
        return json_body({"usages": {"all": {"consumer_count": count, **totals},
                                     "INSTANCE": {"consumer_count": count, **totals}}})
    return json_body({"usages": totals})


async def rp_allocations(sim: Simulator, request: Request, mv: MV) -> Response:
    h = _rp(sim, request.path_params["uuid"])
    allocs = {s["id"]: {"resources": _server_resources(sim, s)} for s in sim.state.values("servers")
              if s["OS-EXT-SRV-ATTR:host"] == h["host"] and _occupies(s)}
    return json_body({"allocations": allocs, "resource_provider_generation": _generation(sim, h)})


async def consumer_allocations(sim: Simulator, request: Request, mv: MV) -> Response:
    s = sim.state.get("servers", request.path_params["consumer"])
    out: dict[str, Any] = {"allocations": {}}
    if s is not None and _occupies(s):
        h = next((h for h in sim.state.values("hypervisors") if h["host"] == s["OS-EXT-SRV-ATTR:host"]), None)
        if h is not None:
            out["allocations"][h["id"]] = {"generation": _generation(sim, h), "resources": _server_resources(sim, s)}
        if mv >= (1, 12):
            out.update(project_id=s["tenant_id"], user_id=s["user_id"])
        if mv >= (1, 28):
            out["consumer_generation"] = 1
        if mv >= (1, 38):
            out["consumer_type"] = "INSTANCE"
    return json_body(out)


def _routes(sim: Simulator) -> list[BaseRoute]:
    async def root(request: Request) -> Response:
        rel = sim.release
        return json_body({"versions": [{"id": "v1.0", "max_version": fmt(rel.placement_max),
                                        "min_version": fmt(rel.placement_min), "status": "CURRENT",
                                        "links": [{"rel": "self", "href": ""}]}]})

    def r(path: str, fn: Any) -> Route:
        return Route(path, pbind(sim, fn), methods=["GET"])

    return [
        Route("/", root),
        r("/resource_providers", list_rps), r("/resource_providers/{uuid}", show_rp),
        r("/resource_providers/{uuid}/inventories", inventories),
        r("/resource_providers/{uuid}/inventories/{rc}", inventories),
        r("/resource_providers/{uuid}/usages", usages),
        r("/resource_providers/{uuid}/allocations", rp_allocations),
        r("/allocations/{consumer}", consumer_allocations),
        r("/usages", project_usages),
    ]


SERVICE = ServiceDef(type="placement", name="placement", mount="/placement", path="/placement", routes=_routes,
                     public=(r"/?$",))
