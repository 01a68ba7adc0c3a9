"""Cinder v3: snapshots, volume types (extra specs), services and scheduler pools."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso_micro, new_id, paginate, read_json

SNAP_FIELDS = ("id", "name", "description", "status", "size", "volume_id", "created_at", "updated_at", "metadata",
               "os-extended-snapshot-attributes:progress", "os-extended-snapshot-attributes:project_id")


def find_type(sim: Simulator, ref: str | None) -> dict[str, Any]:
    """A volume type by id or name; ``None`` means the default type."""
    types = list(sim.state.values("volume_types"))
    if ref is None:
        t = next((t for t in types if t.get("_default")), types[0] if types else None)
    else:
        t = sim.state.get("volume_types", ref) or next((t for t in types if t["name"] == ref), None)
    if t is None:
        raise SimHTTPError(404, f"Volume type {ref} could not be found.")
    return t


def backend_host(sim: Simulator, vtype: dict[str, Any]) -> str:
    backend = vtype.get("extra_specs", {}).get("volume_backend_name") or "lvmdriver-1"
    for s in sim.state.values("volume_services"):
        if s["binary"] == "cinder-volume" and s["host"].endswith("@" + backend) and s["state"] == "up":
            return f"{s['host']}#{backend}"
    return f"storage-1@{backend}#{backend}"


def service_uuid(sim: Simulator, host: str) -> str | None:
    h = host.split("#")[0]
    for s in sim.state.values("volume_services"):
        if s["host"] == h:
            return s["_uuid"]
    return None


def render_snapshot(sim: Simulator, s: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
    sim.settle(s)
    out = {k: s.get(k) for k in SNAP_FIELDS}
    out["metadata"] = dict(s.get("metadata") or {})
    if mv >= (3, 14):
        out["group_snapshot_id"] = None
    if mv >= (3, 41):
        out["user_id"] = s.get("user_id")
    if mv >= (3, 65):
        out["consumes_quota"] = True
    return out


def render_type(t: dict[str, Any], admin: bool) -> dict[str, Any]:
    out = {"id": t["id"], "name": t["name"], "description": t.get("description"), "is_public": t["is_public"],
           "os-volume-type-access:is_public": t["is_public"], "qos_specs_id": t.get("qos_specs_id")}
    if admin:
        out["extra_specs"] = dict(t.get("extra_specs") or {})
    return out


def render_service(sim: Simulator, s: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
    up = s["state"] == "up"
    out = {"binary": s["binary"], "host": s["host"], "zone": s["zone"], "status": s["status"], "state": s["state"],
           "updated_at": iso_micro(sim.now() - 4) if up else s["updated_at"],
           "disabled_reason": s.get("disabled_reason")}
    if s["binary"] == "cinder-volume":
        out.update(replication_status="disabled", active_backend_id=None, frozen=False)
        if mv >= (3, 49):
            out["backend_state"] = "up" if up else "down"
    if mv >= (3, 7):
        out["cluster"] = s.get("cluster")
    return out


def routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator.cinder import check_project, is_admin, microversion, owned, reply, truthy

    def snaps_for(request: Request, pid: str) -> list[dict[str, Any]]:
        q = request.query_params
        all_t = truthy(q.get("all_tenants")) and is_admin(request)
        out = []
        for s in list(sim.state.values("snapshots")):
            if s.get("_pending"):
                sim.settle(s)
                if s["status"] == "deleted":
                    continue
            if not all_t and s["os-extended-snapshot-attributes:project_id"] != pid:
                continue
            if any(q.get(k) is not None and str(s.get(k)) != q[k] for k in ("status", "name", "volume_id")):
                continue
            out.append(s)
        out.reverse()
        return out

    async def list_snapshots(request: Request) -> Response:
        pid = check_project(request)
        mv = microversion(sim, request)
        page, links = paginate(request, snaps_for(request, pid), "snapshots")
        if request.url.path.rstrip("/").endswith("/detail"):
            items = [render_snapshot(sim, s, mv) for s in page]
        else:
            items = [render_snapshot(sim, s, mv) for s in page]
            for it in items:
                for k in ("os-extended-snapshot-attributes:progress", "os-extended-snapshot-attributes:project_id"):
                    it.pop(k, None)
        body: dict[str, Any] = {"snapshots": items}
        if links:
            body["snapshots_links"] = links
        return reply(sim, request, body)

    def get_snap(request: Request) -> dict[str, Any]:
        return owned(sim, request, "snapshots", "snapshot_id", "os-extended-snapshot-attributes:project_id",
                     "Snapshot")

    async def show_snapshot(request: Request) -> Response:
        return reply(sim, request, {"snapshot": render_snapshot(sim, get_snap(request), microversion(sim, request))})

    async def create_snapshot(request: Request) -> Response:
        pid = check_project(request)
        body = (await read_json(request)).get("snapshot")
        if not isinstance(body, dict) or not body.get("volume_id"):
            raise SimHTTPError(400, "Missing required element 'snapshot' in request body.")
        vol = sim.state.get("volumes", body["volume_id"])
        if vol is not None:
            sim.settle(vol)
        if vol is None or vol["status"] == "deleted" or (
                vol["os-vol-tenant-attr:tenant_id"] != pid and not is_admin(request)):
            raise SimHTTPError(404, f"Volume {body['volume_id']} could not be found.")
        force = truthy(str(body.get("force", False)))
        if vol["status"] != "available" and not (force and vol["status"] == "in-use"):
            raise SimHTTPError(400, f"Invalid volume: Volume {vol['id']} status must be available, but current "
                                    f"status is: {vol['status']}.")
        tok = request.scope.get("state", {}).get("token")
        s = {"id": new_id(), "name": body.get("name"), "description": body.get("description"),
             "status": "creating", "size": vol["size"], "volume_id": vol["id"], "created_at": iso_micro(sim.now()),
             "updated_at": None, "metadata": dict(body.get("metadata") or {}),
             "os-extended-snapshot-attributes:progress": "0%",
             "os-extended-snapshot-attributes:project_id": vol["os-vol-tenant-attr:tenant_id"],
             "user_id": tok.user_id if tok else None}
        sim.state.add("snapshots", s)
        sim.schedule(s, {"status": "available", "os-extended-snapshot-attributes:progress": "100%"})
        return reply(sim, request, {"snapshot": render_snapshot(sim, s, microversion(sim, request))}, 202)

    async def delete_snapshot(request: Request) -> Response:
        s = get_snap(request)
        if s["status"] not in ("available", "error", "error_deleting"):
            raise SimHTTPError(400, f"Invalid snapshot: Snapshot status must be available or error and must not be "
                                    f"part of a group. (current status: {s['status']})")
        s["status"] = "deleting"

        def gone(rec: dict[str, Any]) -> None:
            rec["status"] = "deleted"
            sim.state.remove("snapshots", rec["id"], keep_tombstone=True)

        sim.schedule(s, {"status": gone})
        return reply(sim, request, None, 202)

    async def update_snapshot(request: Request) -> Response:
        s = get_snap(request)
        body = (await read_json(request)).get("snapshot") or {}
        for k in ("name", "description", "metadata"):
            if k in body:
                s[k] = body[k]
        s["updated_at"] = iso_micro(sim.now())
        return reply(sim, request, {"snapshot": render_snapshot(sim, s, microversion(sim, request))})

    # --- types ----------------------------------------------------------------------------------
    async def list_types(request: Request) -> Response:
        check_project(request)
        admin = is_admin(request)
        types = [t for t in sim.state.values("volume_types") if t["is_public"] or admin]
        q = request.query_params
        if q.get("is_public") is not None and q["is_public"].lower() != "none":
            types = [t for t in types if t["is_public"] == truthy(q["is_public"])]
        return reply(sim, request, {"volume_types": [render_type(t, admin) for t in types]})

    def get_type(request: Request) -> dict[str, Any]:
        check_project(request)
        ref = request.path_params["type_id"]
        if ref == "default":
            return find_type(sim, None)
        t = sim.state.get("volume_types", ref)
        if t is None or (not t["is_public"] and not is_admin(request)):
            raise SimHTTPError(404, f"Volume type {ref} could not be found.")
        return t

    async def show_type(request: Request) -> Response:
        return reply(sim, request, {"volume_type": render_type(get_type(request), is_admin(request))})

    async def create_type(request: Request) -> Response:
        check_project(request)
        if not is_admin(request):
            raise SimHTTPError(403, "Policy doesn't allow volume_extension:types_manage to be performed.")
        body = (await read_json(request)).get("volume_type") or {}
        name = body.get("name")
        if not name:
            raise SimHTTPError(400, "Volume type name can not be empty.")
        if any(t["name"] == name for t in sim.state.values("volume_types")):
            raise SimHTTPError(409, f"Volume Type {name} already exists.")
        t = {"id": new_id(), "name": name, "description": body.get("description"),
             "is_public": bool(body.get("os-volume-type-access:is_public", body.get("is_public", True))),
             "extra_specs": {k: str(v) for k, v in (body.get("extra_specs") or {}).items()}, "qos_specs_id": None}
        sim.state.add("volume_types", t)
        return reply(sim, request, {"volume_type": render_type(t, True)})

    async def delete_type(request: Request) -> Response:
        t = get_type(request)
        if not is_admin(request):
            raise SimHTTPError(403, "Policy doesn't allow volume_extension:types_manage to be performed.")
        if any(v.get("volume_type_id") == t["id"] for v in sim.state.values("volumes")) or t.get("_default"):
            raise SimHTTPError(400, "Target volume type is still in use.")
        sim.state.remove("volume_types", t["id"])
        return reply(sim, request, None, 202)

    async def type_specs(request: Request) -> Response:
        t = get_type(request)
        if request.method == "POST":
            if not is_admin(request):
                raise SimHTTPError(403, "Policy doesn't allow volume_extension:types_extra_specs:create.")
            specs = (await read_json(request)).get("extra_specs") or {}
            t.setdefault("extra_specs", {}).update({k: str(v) for k, v in specs.items()})
            return reply(sim, request, {"extra_specs": specs})
        return reply(sim, request, {"extra_specs": dict(t.get("extra_specs") or {})})

    # --- services and pools -----------------------------------------------------------------------
    async def list_services(request: Request) -> Response:
        check_project(request)
        if not is_admin(request):
            raise SimHTTPError(403, "Policy doesn't allow volume_extension:services:index to be performed.")
        q = request.query_params
        mv = microversion(sim, request)
        items = [render_service(sim, s, mv) for s in sim.state.values("volume_services")
                 if q.get("binary") in (None, s["binary"]) and q.get("host") in (None, s["host"])]
        return reply(sim, request, {"services": items})

    async def get_pools(request: Request) -> Response:
        check_project(request)
        if not is_admin(request):
            raise SimHTTPError(403, "Policy doesn't allow scheduler_extension:scheduler_stats:get_pools.")
        alloc: dict[str, int] = {}
        for v in sim.state.values("volumes"):
            h = v.get("os-vol-host-attr:host")
            if h:
                alloc[h] = alloc.get(h, 0) + v["size"]
        pools = []
        for s in sim.state.values("volume_services"):
            if s["binary"] != "cinder-volume":
                continue
            backend = s["host"].split("@")[1]
            name = f"{s['host']}#{backend}"
            total = s["_capacity_gb"]
            used = alloc.get(name, 0)
            caps = {"pool_name": backend, "volume_backend_name": backend, "total_capacity_gb": total,
                    "free_capacity_gb": round(max(0.0, total - used * 0.6), 2), "allocated_capacity_gb": used,
                    "provisioned_capacity_gb": used, "max_over_subscription_ratio": "20.0",
                    "reserved_percentage": 0, "thin_provisioning_support": True, "thick_provisioning_support": False,
                    "storage_protocol": s["_protocol"], "vendor_name": s["_vendor"], "driver_version": "3.0.0",
                    "QoS_support": False, "multiattach": True, "timestamp": iso_micro(sim.now() - 30),
                    "total_volumes": sum(1 for v in sim.state.values("volumes")
                                         if v.get("os-vol-host-attr:host") == name) + 1}
            pools.append({"name": name, "capabilities": caps} if truthy(request.query_params.get("detail"))
                         else {"name": name})
        return reply(sim, request, {"pools": pools})

    p = "/v3/{project_id}"
    return [
        Route(p + "/snapshots", list_snapshots, methods=["GET"]),
        Route(p + "/snapshots", create_snapshot, methods=["POST"]),
        Route(p + "/snapshots/detail", list_snapshots, methods=["GET"]),
        Route(p + "/snapshots/{snapshot_id}", show_snapshot, methods=["GET"]),
        Route(p + "/snapshots/{snapshot_id}", update_snapshot, methods=["PUT"]),
        Route(p + "/snapshots/{snapshot_id}", delete_snapshot, methods=["DELETE"]),
        Route(p + "/types", list_types, methods=["GET"]),
        Route(p + "/types", create_type, methods=["POST"]),
        Route(p + "/types/{type_id}", show_type, methods=["GET"]),
        Route(p + "/types/{type_id}", delete_type, methods=["DELETE"]),
        Route(p + "/types/{type_id}/extra_specs", type_specs, methods=["GET", "POST"]),
        Route(p + "/os-services", list_services, methods=["GET"]),
        Route(p + "/scheduler-stats/get_pools", get_pools, methods=["GET"]),
    ]
