"""Nova volume attach and detach (``POST /servers/{id}/os-volume_attachments``, ``DELETE
/servers/{id}/os-volume_attachments/{volume_id}``), changing the Cinder volume as Nova does through
Cinder's attachment API: ``attaching`` then ``in-use`` with an attachment (server, host, device);
``detaching`` then ``available`` (``in-use`` while other attachments of a multiattach volume remain).
Recorded as the instance actions ``attach_volume`` / ``detach_volume``.

Refusals follow Nova: 409 for a server in a state that cannot take it, 404 for an unknown volume or one
not attached to the server, 400 for a volume that is not available (an in-use volume that is not
multiattach) and for the root device of a server booted from a volume.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso_micro, json_body, new_id, read_json
from app.simulator.nova_common import MV, is_admin

ATTACH_VM_STATES = ("active", "paused", "stopped", "suspended", "resized", "shelved", "shelved_offloaded")
ROOT_DEVICE = "/dev/vda"


def _server(sim: Simulator, request: Request) -> dict[str, Any]:
    from app.simulator.nova_servers import get_server

    return get_server(sim, request, request.path_params["id"])


def _check(s: dict[str, Any], method: str) -> None:
    vm, task = s["OS-EXT-STS:vm_state"], s["OS-EXT-STS:task_state"]
    if vm not in ATTACH_VM_STATES:
        raise SimHTTPError(409, f"Cannot '{method}' instance {s['id']} while it is in vm_state {vm}")
    if task is not None:
        raise SimHTTPError(409, f"Cannot '{method}' instance {s['id']} while it is in task_state {task}")


def _next_device(sim: Simulator, sid: str) -> str:
    from app.simulator import cinder

    used = {a.get("device") for v in cinder.server_volume_ids(sim, sid)
            for a in (sim.state.get("volumes", v) or {}).get("attachments", ())}
    return next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in used)


def _recorded(sim: Simulator, request: Request, s: dict[str, Any], action: str) -> str:
    from app.simulator.nova_live import record_action

    rid = "req-" + secrets.token_hex(16)
    record_action(sim, s, action, rid, request)
    return rid


async def attach(sim: Simulator, request: Request, mv: MV) -> Response:
    from app.simulator import cinder

    s = _server(sim, request)
    body = await read_json(request)
    spec = body.get("volumeAttachment") if isinstance(body, dict) else None
    vid = spec.get("volumeId") if isinstance(spec, dict) else None
    if not isinstance(vid, str) or not vid:
        raise SimHTTPError(400, "Invalid input for field/attribute volumeAttachment. Value: %s. 'volumeId' is a "
                                "required property" % spec)
    if s.get("locked") and not is_admin(request):
        raise SimHTTPError(409, f"Instance {s['id']} is locked")
    _check(s, "attach_volume")
    vol = sim.state.get("volumes", vid)
    if vol is None:
        raise SimHTTPError(404, f"Volume {vid} could not be found.")
    sim.settle(vol)
    if s["id"] in {a.get("server_id") for a in vol.get("attachments", ())}:
        raise SimHTTPError(400, f"Invalid volume: volume {vid} is already attached to instance {s['id']}.")
    if not (vol["status"] == "available" or (vol["status"] == "in-use" and vol.get("multiattach"))):
        raise SimHTTPError(400, f"Invalid volume: Volume {vid} status must be available or downloading to reserve, "
                                f"but the current status is {vol['status']}.")
    device = spec.get("device") or _next_device(sim, s["id"])
    host = s["OS-EXT-SRV-ATTR:host"]
    after = vol["status"]
    vol["status"] = "attaching" if after == "available" else after
    vol["updated_at"] = iso_micro(sim.now())
    sim.schedule(vol, {"_attach": lambda v: cinder.attach(sim, v, s["id"], host, device, sim.now())})
    rid = _recorded(sim, request, s, "attach_volume")
    out: dict[str, Any] = {"device": device, "serverId": s["id"], "volumeId": vid}
    if mv < (2, 89):
        out["id"] = vid
    if mv >= (2, 70):
        out["tag"] = spec.get("tag")
    if mv >= (2, 79):
        out["delete_on_termination"] = bool(spec.get("delete_on_termination"))
    if mv >= (2, 89):
        out["attachment_id"] = new_id()
        out["bdm_uuid"] = new_id()
    return json_body({"volumeAttachment": out}, headers={"x-openstack-request-id": rid})


def _detach_one(sim: Simulator, vol: dict[str, Any], sid: str) -> None:
    from app.simulator import cinder

    cinder.detach_all(sim, vol, sid)
    vol["status"] = "in-use" if vol["attachments"] else "available"
    vol["attach_status"] = "attached" if vol["attachments"] else "detached"


async def detach(sim: Simulator, request: Request, mv: MV) -> Response:
    s = _server(sim, request)
    vid = request.path_params["volume_id"]
    vol = sim.state.get("volumes", vid)
    att = next((a for a in (vol or {}).get("attachments", ()) if a.get("server_id") == s["id"]), None)
    if vol is None or att is None:
        raise SimHTTPError(404, "The volume was either invalid or not attached to the instance.")
    if s.get("locked") and not is_admin(request):
        raise SimHTTPError(409, f"Instance {s['id']} is locked")
    _check(s, "detach_volume")
    if not s["_image"] and att.get("device") == ROOT_DEVICE:
        raise SimHTTPError(400, "Cannot detach a root device volume")
    vol["status"] = "detaching"
    vol["updated_at"] = iso_micro(sim.now())
    sim.schedule(vol, {"_detach": lambda v: _detach_one(sim, v, s["id"])})
    rid = _recorded(sim, request, s, "detach_volume")
    return Response(status_code=202, headers={"x-openstack-request-id": rid})
