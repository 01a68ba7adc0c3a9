"""Nova plumbing shared by the compute modules: microversion negotiation, version documents, links,
state-to-status mapping and the per-host usage cache."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, TokenInfo, error_response, json_body
from app.simulator.releases import fmt

MV = tuple[int, int]
Handler = Callable[[Simulator, Request, MV], Awaitable[Response]]
VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
VARY = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"

# Nova's _STATE_MAP (nova/api/openstack/common.py): vm_state -> {task_state: status}
STATE_MAP: dict[str, dict[Any, str]] = {
    "active": {"default": "ACTIVE", "rebooting": "REBOOT", "reboot_pending": "REBOOT", "reboot_started": "REBOOT",
               "rebooting_hard": "HARD_REBOOT", "reboot_pending_hard": "HARD_REBOOT",
               "reboot_started_hard": "HARD_REBOOT", "updating_password": "PASSWORD", "rebuilding": "REBUILD",
               "migrating": "MIGRATING", "resize_prep": "RESIZE", "resize_migrating": "RESIZE"},
    "building": {"default": "BUILD"},
    "stopped": {"default": "SHUTOFF", "resize_prep": "RESIZE", "rebuilding": "REBUILD"},
    "resized": {"default": "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
    "paused": {"default": "PAUSED", "migrating": "MIGRATING"},
    "suspended": {"default": "SUSPENDED"},
    "rescued": {"default": "RESCUE"},
    "error": {"default": "ERROR", "rebuilding": "REBUILD"},
    "deleted": {"default": "DELETED"},
    "soft-delete": {"default": "SOFT_DELETED"},
    "shelved": {"default": "SHELVED"},
    "shelved_offloaded": {"default": "SHELVED_OFFLOADED"},
}
# power_state values (nova/compute/power_state.py)
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


def status_of(vm_state: str, task_state: str | None) -> str:
    m = STATE_MAP.get(vm_state, {"default": "UNKNOWN"})
    return m.get(task_state, m["default"])


def negotiate(sim: Simulator, request: Request) -> MV:
    """The compute microversion a request asks for (``OpenStack-API-Version: compute X.Y`` or the legacy
    ``X-OpenStack-Nova-API-Version``); default 2.1; ``latest`` = the release's maximum."""
    rel = sim.release
    raw = None
    h = request.headers.get("openstack-api-version")
    if h:
        for part in h.split(","):
            service, _, ver = part.strip().partition(" ")
            if service.lower() == "compute":
                raw = ver.strip()
    if raw is None:
        raw = request.headers.get("x-openstack-nova-api-version")
    if raw is None:
        return rel.compute_min
    if raw.lower() == "latest":
        return rel.compute_max
    m = VERSION_RE.match(raw)
    if not m:
        raise SimHTTPError(400, f"API Version String {raw} is of invalid format. Must be of format "
                                "MajorNum.MinorNum.")
    v = (int(m.group(1)), int(m.group(2)))
    if not rel.compute_min <= v <= rel.compute_max:
        raise SimHTTPError(406, f"Version {raw} is not supported by the API. Minimum is {fmt(rel.compute_min)} "
                                f"and maximum is {fmt(rel.compute_max)}.")
    return v


def version_headers(v: MV) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {fmt(v)}", "X-OpenStack-Nova-API-Version": fmt(v), "Vary": VARY}


def cbind(sim: Simulator, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Starlette endpoint: negotiate the microversion, call ``fn(sim, request, mv)``, add version headers
    (on errors too, as Nova does)."""

    async def endpoint(request: Request) -> Response:
        try:
            mv = negotiate(sim, request)
        except SimHTTPError as e:
            return error_response(e.status, e.message, "compute", version_headers(sim.release.compute_min))
        try:
            resp = await fn(sim, request, mv)
        except SimHTTPError as e:
            return error_response(e.status, e.message, "compute", {**version_headers(mv), **(e.headers or {})})
        resp.headers.update(version_headers(mv))
        return resp

    return endpoint


def token(request: Request) -> TokenInfo:
    return request.scope["state"]["token"]


def is_admin(request: Request) -> bool:
    return any(r["name"] == "admin" for r in token(request).roles)


def require_admin(request: Request, rule: str) -> None:
    if not is_admin(request):
        raise SimHTTPError(403, f"Policy doesn't allow {rule} to be performed.")


def base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/compute"


def links(request: Request, collection: str, rid: str) -> list[dict[str, str]]:
    b = base(request)
    return [{"rel": "self", "href": f"{b}/v2.1/{collection}/{rid}"}, {"rel": "bookmark", "href": f"{b}/{collection}/{rid}"}]


def truthy(v: str | None) -> bool:
    return v is not None and v.strip().lower() in ("1", "true", "yes", "on", "y", "t")


def v2_1_doc(sim: Simulator, request: Request) -> dict[str, Any]:
    b = base(request)
    return {"id": "v2.1", "status": "CURRENT", "version": fmt(sim.release.compute_max),
            "min_version": fmt(sim.release.compute_min), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{b}/v2.1/"},
                      {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def version_routes(sim: Simulator) -> list[Any]:
    from starlette.routing import Route

    async def root(request: Request) -> Response:
        b = base(request)
        v2 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
              "links": [{"rel": "self", "href": f"{b}/v2/"}]}
        doc = v2_1_doc(sim, request)
        doc.pop("media-types")
        doc["links"] = doc["links"][:1]
        return json_body({"versions": [v2, doc]})

    async def v21(sim_: Simulator, request: Request, mv: MV) -> Response:
        return json_body({"version": v2_1_doc(sim_, request)})

    return [Route("/", root), Route("/v2.1", cbind(sim, v21)), Route("/v2.1/", cbind(sim, v21))]


# ----------------------------------------------------------------------------------------------
# Per-host usage (cached; invalidated by bump() on create/delete/migration)


def bump(sim: Simulator) -> None:
    sim._nova_gen = getattr(sim, "_nova_gen", 0) + 1  # type: ignore[attr-defined]


def host_usage(sim: Simulator) -> dict[str, list[int]]:
    """host -> [vcpus, ram_mb, disk_gb, instances, busy (task_state set)] over servers occupying resources."""
    key = (getattr(sim, "_nova_gen", 0), sim.state.count("servers"))
    cache = getattr(sim, "_nova_usage", None)
    if cache is not None and cache[0] == key:
        return cache[1]
    flavors = {f["id"]: (f["vcpus"], f["ram"], f["disk"] + f["OS-FLV-EXT-DATA:ephemeral"] + (f["swap"] or 0) // 1024)
               for f in sim.state.values("flavors")}
    usage: dict[str, list[int]] = {}
    for s in sim.state.values("servers"):
        host = s["OS-EXT-SRV-ATTR:host"]
        if not host or s["OS-EXT-STS:vm_state"] == "shelved_offloaded":
            continue
        fl = flavors.get(s["_flavor"])
        if fl is None:
            continue
        u = usage.get(host)
        if u is None:
            u = usage[host] = [0, 0, 0, 0, 0]
        u[0] += fl[0]
        u[1] += fl[1]
        u[2] += fl[2]
        u[3] += 1
        if s["OS-EXT-STS:task_state"] is not None:
            u[4] += 1
        old = s.get("_migration") if s["OS-EXT-STS:vm_state"] == "resized" else None
        if old and old.get("host") and flavors.get(old.get("flavor")):  # the source keeps the old allocation
            o, ofl = usage.setdefault(old["host"], [0, 0, 0, 0, 0]), flavors[old["flavor"]]
            o[0] += ofl[0]
            o[1] += ofl[1]
            o[2] += ofl[2]
    sim._nova_usage = (key, usage)  # type: ignore[attr-defined]
    return usage
