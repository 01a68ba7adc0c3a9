"""Cinder v3 simulator: service definition, version documents, microversions and volumes.

Project-scoped URLs (``/volume/v3/{project_id}/...``). State kinds: ``volumes``, ``snapshots``,
``volume_types``, ``volume_services``. Snapshots, types, services and pools are in
:mod:`app.simulator.cinder_extra`; the fleet in :mod:`app.simulator.cinder_fleet`.
Timestamps follow Cinder (``2026-11-23T10:00:00.000000``, no zone).
"""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import (
    ServiceDef, SimHTTPError, Simulator, error_response, iso_micro, json_body, new_id, paginate, read_json,
)
from app.simulator.cinder_access import check_project, is_admin, owned, truthy  # noqa: F401 (re-exported)
from app.simulator.releases import fmt, parse_version

VOLUME_FIELDS = (
    "id", "name", "description", "status", "size", "availability_zone", "created_at", "updated_at",
    "attachments", "bootable", "encrypted", "multiattach", "metadata", "volume_type", "snapshot_id",
    "source_volid", "user_id", "consistencygroup_id", "replication_status", "migration_status",
    "os-vol-host-attr:host", "os-vol-tenant-attr:tenant_id", "os-vol-mig-status-attr:migstat",
    "os-vol-mig-status-attr:name_id",
)
# (microversion that introduced the field, field, default)
VERSIONED_FIELDS = (
    ((3, 13), "group_id", None),
    ((3, 21), "provider_id", None),
    ((3, 48), "service_uuid", None),
    ((3, 48), "shared_targets", False),
    ((3, 61), "cluster_name", None),
    ((3, 63), "volume_type_id", None),
    ((3, 65), "consumes_quota", True),
)


class CinderIndex:
    def __init__(self) -> None:
        self.volumes_by_server: dict[str, list[str]] = {}


def idx(sim: Simulator) -> CinderIndex:
    ix = getattr(sim, "_cinder_index", None)
    if ix is None:
        ix = CinderIndex()
        sim._cinder_index = ix  # type: ignore[attr-defined]
    return ix


def server_volume_ids(sim: Simulator, server_id: str) -> list[str]:
    """Ids of the volumes attached to ``server_id`` (Nova's ``os-extended-volumes:volumes_attached``)."""
    return list(idx(sim).volumes_by_server.get(server_id, ()))


def attach(sim: Simulator, vol: dict[str, Any], server_id: str, host: str | None, device: str, ts: float) -> None:
    vol.setdefault("attachments", []).append({
        "id": vol["id"], "attachment_id": new_id(sim.rng), "volume_id": vol["id"], "server_id": server_id,
        "host_name": host, "device": device, "attached_at": iso_micro(ts),
    })
    vol["status"] = "in-use"
    vol["attach_status"] = "attached"
    idx(sim).volumes_by_server.setdefault(server_id, []).append(vol["id"])


def detach_all(sim: Simulator, vol: dict[str, Any], server_id: str | None = None) -> None:
    """Drop the volume's attachments (only the one to ``server_id`` when given)."""
    ix = idx(sim)
    for a in vol.get("attachments", ()):
        if server_id is not None and a["server_id"] != server_id:
            continue
        lst = ix.volumes_by_server.get(a["server_id"])
        if lst and vol["id"] in lst:
            lst.remove(vol["id"])
            if not lst:
                del ix.volumes_by_server[a["server_id"]]
    vol["attachments"] = [a for a in vol.get("attachments", ()) if server_id is not None and a["server_id"] != server_id]


# ----------------------------------------------------------------------------------------------
# Microversions


def microversion(sim: Simulator, request: Request) -> tuple[int, int]:
    rel = sim.release
    raw = request.headers.get("openstack-api-version", "")
    want = None
    for part in raw.split(","):
        svc, _, ver = part.strip().partition(" ")
        if svc.lower() == "volume" and ver:
            want = ver.strip()
    if want is None:
        return rel.volume_min
    if want == "latest":
        return rel.volume_max
    try:
        v = parse_version(want)
    except ValueError as e:
        raise SimHTTPError(400, f"Invalid API version request: {want}") from e
    if v < rel.volume_min or v > rel.volume_max:
        raise SimHTTPError(406, f"Version {want} is not supported by the API. Minimum is "
                                f"{fmt(rel.volume_min)} and maximum is {fmt(rel.volume_max)}.")
    return v


def reply(sim: Simulator, request: Request, data: Any, status: int = 200) -> Response:
    mv = microversion(sim, request)
    headers = {"OpenStack-API-Version": f"volume {fmt(mv)}", "Vary": "OpenStack-API-Version"}
    if status == 202 and data is None:
        return Response(status_code=202, headers=headers)
    return json_body(data, status, headers)


def version_doc(sim: Simulator, base: str) -> dict[str, Any]:
    return {
        "id": "v3.0", "status": "CURRENT", "version": fmt(sim.release.volume_max),
        "min_version": fmt(sim.release.volume_min), "updated": "2023-01-01T00:00:00Z",
        "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                  {"rel": "self", "href": base + "/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }


# ----------------------------------------------------------------------------------------------
# Volumes


def render_volume(sim: Simulator, v: dict[str, Any], mv: tuple[int, int], base: str) -> dict[str, Any]:
    sim.settle(v)
    out = {k: v.get(k) for k in VOLUME_FIELDS}
    out["attachments"] = [dict(a) for a in v.get("attachments", ())]
    out["metadata"] = dict(v.get("metadata") or {})
    out["bootable"] = "true" if v.get("bootable") else "false"
    out["encrypted"] = bool(v.get("encrypted"))
    out["multiattach"] = bool(v.get("multiattach"))
    out["links"] = [{"rel": "self", "href": f"{base}/volumes/{v['id']}"},
                    {"rel": "bookmark", "href": f"{base}/volumes/{v['id']}".replace("/v3/", "/")}]
    if v.get("volume_image_metadata"):
        out["volume_image_metadata"] = dict(v["volume_image_metadata"])
    for since, k, default in VERSIONED_FIELDS:
        if mv >= since:
            out[k] = v.get(k, default)
    return out


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + f"/volume/v3/{request.path_params['project_id']}"


LIST_KEYS = {"limit", "marker", "all_tenants", "sort", "sort_key", "sort_dir", "offset", "with_count",
             "project_id"}


def _filtered_volumes(sim: Simulator, request: Request, pid: str) -> list[dict[str, Any]]:
    q = request.query_params
    all_t = truthy(q.get("all_tenants")) and is_admin(request)
    want_project = q.get("project_id") if all_t else None
    filters = {k: v for k, v in q.items() if k not in LIST_KEYS}
    out = []
    for v in list(sim.state.values("volumes")):
        if v.get("_pending"):
            sim.settle(v)
            if v["status"] == "deleted":
                continue
        if not all_t and v["os-vol-tenant-attr:tenant_id"] != pid:
            continue
        if want_project and v["os-vol-tenant-attr:tenant_id"] != want_project:
            continue
        if filters:
            ok = True
            for k, val in filters.items():
                if k == "name~":
                    ok = val.lower() in (v.get("name") or "").lower()
                elif k == "metadata":
                    continue
                elif k in ("bootable", "encrypted", "multiattach"):
                    ok = bool(v.get(k)) == truthy(val)
                elif k in v or k in VOLUME_FIELDS:
                    ok = str(v.get(k)) == val
                if not ok:
                    break
            if not ok:
                continue
        out.append(v)
    if q.get("sort_dir", "").lower() == "asc" or (q.get("sort") or "").endswith(":asc"):
        return out
    # Cinder's default order is created_at desc; insertion order is creation order.
    out.reverse()
    return out


def routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator import cinder_extra

    async def root(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/volume"
        return json_body({"versions": [version_doc(sim, base)]}, 300)

    async def v3_root(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/volume"
        return json_body({"versions": [version_doc(sim, base)]})

    async def list_volumes(request: Request) -> Response:
        pid = check_project(request)
        detail = request.url.path.rstrip("/").endswith("/detail")
        mv = microversion(sim, request)
        vols = _filtered_volumes(sim, request, pid)
        page, links = paginate(request, vols, "volumes")
        base = _base(request)
        if detail:
            items = [render_volume(sim, v, mv, base) for v in page]
        else:
            items = [{"id": v["id"], "name": v.get("name"),
                      "links": [{"rel": "self", "href": f"{base}/volumes/{v['id']}"}]} for v in page]
        body: dict[str, Any] = {"volumes": items}
        if links:
            body["volumes_links"] = links
        if mv >= (3, 45) and truthy(request.query_params.get("with_count")):
            body["count"] = len(vols)
        return reply(sim, request, body)

    def get_vol(request: Request) -> dict[str, Any]:
        return owned(sim, request, "volumes", "volume_id", "os-vol-tenant-attr:tenant_id", "Volume")

    async def show_volume(request: Request) -> Response:
        v = get_vol(request)
        return reply(sim, request, {"volume": render_volume(sim, v, microversion(sim, request), _base(request))})

    async def create_volume(request: Request) -> Response:
        pid = check_project(request)
        mv = microversion(sim, request)
        body = (await read_json(request)).get("volume")
        if not isinstance(body, dict):
            raise SimHTTPError(400, "Missing required element 'volume' in request body.")
        size = body.get("size")
        src_snap = sim.state.get("snapshots", body["snapshot_id"]) if body.get("snapshot_id") else None
        if body.get("snapshot_id") and src_snap is None:
            raise SimHTTPError(404, f"Snapshot {body['snapshot_id']} could not be found.")
        if size is None and src_snap is not None:
            size = src_snap["size"]
        try:
            size = int(size)
        except (TypeError, ValueError) as e:
            raise SimHTTPError(400, f"Invalid input received: size={size!r} must be an integer.") from e
        if size < 1:
            raise SimHTTPError(400, "Invalid input received: Volume size must be greater than 0.")
        vtype = cinder_extra.find_type(sim, body.get("volume_type"))
        tok = request.scope.get("state", {}).get("token")
        now = sim.now()
        v = {
            "id": new_id(), "name": body.get("name"), "description": body.get("description"),
            "status": "creating", "size": size,
            "availability_zone": body.get("availability_zone") or "nova",
            "created_at": iso_micro(now), "updated_at": None, "attachments": [],
            "bootable": bool(body.get("imageRef")), "encrypted": False,
            "multiattach": bool(body.get("multiattach")) or vtype.get("_multiattach", False),
            "metadata": dict(body.get("metadata") or {}), "volume_type": vtype["name"],
            "volume_type_id": vtype["id"], "snapshot_id": body.get("snapshot_id"),
            "source_volid": body.get("source_volid"), "user_id": tok.user_id if tok else None,
            "consistencygroup_id": None, "replication_status": None, "migration_status": None,
            "os-vol-host-attr:host": None, "os-vol-tenant-attr:tenant_id": pid,
            "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None,
            "shared_targets": False, "service_uuid": None, "attach_status": "detached",
        }
        sim.state.add("volumes", v)
        backend = cinder_extra.backend_host(sim, vtype)
        sim.schedule(v, {"status": "available", "os-vol-host-attr:host": backend,
                         "service_uuid": cinder_extra.service_uuid(sim, backend)})
        return reply(sim, request, {"volume": render_volume(sim, v, mv, _base(request))}, 202)

    async def delete_volume(request: Request) -> Response:
        v = get_vol(request)
        if v["status"] not in ("available", "error", "error_restoring", "error_extending", "error_managing"):
            raise SimHTTPError(400, "Invalid volume: Volume status must be available or error or error_restoring "
                                    "or error_extending or error_managing and must not be migrating, attached, "
                                    f"belong to a group, have snapshots or be disassociated from snapshots after "
                                    f"volume transfer. (current status: {v['status']})")
        if any(s["volume_id"] == v["id"] for s in sim.state.values("snapshots")) \
                and not truthy(request.query_params.get("cascade")):
            raise SimHTTPError(400, "Invalid volume: Volume still has 1 dependent snapshots.")
        v["status"] = "deleting"
        v["updated_at"] = iso_micro(sim.now())
        sim.schedule(v, {"status": lambda rec: _gone(sim, rec)})
        return Response(status_code=202, headers={"OpenStack-API-Version": f"volume {fmt(microversion(sim, request))}"})

    async def update_volume(request: Request) -> Response:
        v = get_vol(request)
        body = (await read_json(request)).get("volume") or {}
        for k in ("name", "description", "metadata"):
            if k in body:
                v[k] = body[k]
        v["updated_at"] = iso_micro(sim.now())
        return reply(sim, request, {"volume": render_volume(sim, v, microversion(sim, request), _base(request))})

    async def volume_action(request: Request) -> Response:
        v = get_vol(request)
        body = await read_json(request)
        if not isinstance(body, dict) or len(body) != 1:
            raise SimHTTPError(400, "Invalid request body: exactly one action expected.")
        action, args = next(iter(body.items()))
        args = args or {}
        if action == "os-extend":
            try:
                new_size = int(args["new_size"])
            except (KeyError, TypeError, ValueError) as e:
                raise SimHTTPError(400, "Invalid input received: new_size must be an integer.") from e
            online = v["status"] == "in-use" and microversion(sim, request) >= (3, 42)
            if v["status"] != "available" and not online:
                raise SimHTTPError(400, f"Invalid volume: Volume {v['id']} status must be available"
                                        f"{' or in-use' if microversion(sim, request) >= (3, 42) else ''} to extend, "
                                        f"but current status is: {v['status']}.")
            if new_size <= v["size"]:
                raise SimHTTPError(400, f"Invalid input received: New size for extend must be greater than "
                                        f"current size. (current: {v['size']}, extended: {new_size}).")
            after = v["status"]
            v["status"] = "extending"
            sim.schedule(v, {"status": after, "size": new_size})
        elif action in ("os-set_bootable",):
            v["bootable"] = truthy(args.get("bootable"))
        elif action == "os-reset_status":
            if not is_admin(request):
                raise SimHTTPError(403, "Policy doesn't allow volume_extension:volume_admin_actions:reset_status.")
            v.pop("_pending", None)
            v["status"] = args.get("status", v["status"])
        elif action in ("os-set_image_metadata",):
            v.setdefault("volume_image_metadata", {}).update(args.get("metadata") or {})
        else:
            raise SimHTTPError(400, f"There is no such action: {action}")
        v["updated_at"] = iso_micro(sim.now())
        return reply(sim, request, None, 202)

    from app.simulator import quotas

    p = "/v3/{project_id}"
    return [_versioned(sim, r) for r in [
        Route("/", root), Route("/v3", v3_root), Route("/v3/", v3_root),
        Route(p, v3_root), Route(p + "/", v3_root),
        Route(p + "/volumes", list_volumes, methods=["GET"]),
        Route(p + "/volumes", create_volume, methods=["POST"]),
        Route(p + "/volumes/detail", list_volumes, methods=["GET"]),
        Route(p + "/volumes/{volume_id}", show_volume, methods=["GET"]),
        Route(p + "/volumes/{volume_id}", update_volume, methods=["PUT"]),
        Route(p + "/volumes/{volume_id}", delete_volume, methods=["DELETE"]),
        Route(p + "/volumes/{volume_id}/action", volume_action, methods=["POST"]),
        *cinder_extra.routes(sim),
        *quotas.cinder_routes(sim),
    ]]


def _versioned(sim: Simulator, route: Route) -> Route:
    """Every Cinder answer carries ``OpenStack-API-Version`` (errors and version documents too)."""
    fn = route.endpoint

    async def endpoint(request: Request) -> Response:
        try:
            mv = microversion(sim, request)
        except SimHTTPError:
            mv = sim.release.volume_min
        headers = {"OpenStack-API-Version": f"volume {fmt(mv)}", "Vary": "OpenStack-API-Version"}
        try:
            resp = await fn(request)
        except SimHTTPError as e:
            return error_response(e.status, e.message, "volume", {**headers, **(e.headers or {})})
        for k, v in headers.items():
            resp.headers.setdefault(k, v)
        return resp

    return Route(route.path, endpoint, methods=list(route.methods or ()) or None)


def _gone(sim: Simulator, rec: dict[str, Any]) -> None:
    detach_all(sim, rec)
    rec["status"] = "deleted"
    sim.state.remove("volumes", rec["id"], keep_tombstone=True)


SERVICE = ServiceDef(type="block-storage", name="cinder", mount="/volume", path="/volume/v3/{project_id}",
                     routes=routes, public=(r"/?$", r"/v3/?$", r"/v3/[^/]+/?$"),
                     extra_types=("volumev3", "volume"))


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.cinder_fleet import populate as _p

    _p(sim, n, rng)
