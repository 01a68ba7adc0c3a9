"""Nova calls answered live by the MCP server, never synced: instance actions with events
(``os-instance-actions``), console output (the ``os-getConsoleOutput`` server action), and quota
sets with usage (``os-quota-sets/{project}/detail``, see :mod:`app.simulator.quotas`).

Actions: every server has its ``create`` action (from its own record: a build that failed shows
``message: "Error"`` and a failed ``conductor_schedule_and_build_instances`` event with a traceback,
as real Nova does); every server action accepted through ``POST /servers/{id}/action`` is recorded
under the request id of that call, with the caller's user and project, and one ``compute_<action>_instance``
event that finishes after the simulator's ``transition_seconds``. Bodies follow the recorded real
responses (``tests/fixtures/real/compute_instance_action*.json``): ``updated_at`` from 2.58, event
``host``/``hostId`` from 2.62, ``details`` from 2.84; events need 2.51 for non-admins, and only admins
see tracebacks.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso_micro, json_body, read_json
from app.simulator.nova_common import MV, is_admin, token

# Server action body key -> Nova's instance action name (nova/compute/instance_actions.py).
ACTION_NAMES = {"os-start": "start", "os-stop": "stop", "reboot": "reboot", "pause": "pause",
                "unpause": "unpause", "suspend": "suspend", "resume": "resume", "lock": "lock", "unlock": "unlock",
                "resize": "resize", "confirmResize": "confirmResize", "revertResize": "revertResize",
                "migrate": "migrate", "os-migrateLive": "live-migration"}
NO_EVENTS = {"lock", "unlock"}
# Actions whose (first) event is not named compute_<action>_instance (nova/compute/manager.py, conductor).
EVENT_NAMES = {"resize": "compute_prep_resize", "migrate": "compute_prep_resize",
               "confirmResize": "compute_confirm_resize", "revertResize": "compute_revert_resize",
               "live-migration": "conductor_live_migrate_instance", "attach_volume": "compute_attach_volume",
               "detach_volume": "compute_detach_volume"}
CONSOLE_LINES = 120


def _request_id(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _host_id(s: dict[str, Any]) -> str:
    host = s.get("OS-EXT-SRV-ATTR:host") or ""
    return hashlib.sha224(f"{s['tenant_id']}{host}".encode()).hexdigest() if host else ""


def _created_action(s: dict[str, Any]) -> dict[str, Any]:
    from app.simulator.core import parse_iso

    start = parse_iso(s["created"])
    fault = s.get("_fault")
    failed = fault is not None and not s.get("OS-EXT-SRV-ATTR:host")
    built = s.get("_launched") or (start + 25)
    event: dict[str, Any] = {
        "event": "conductor_schedule_and_build_instances" if failed else "compute__do_build_and_run_instance",
        "_start": start + 1, "_finish": (fault[1] if failed else built),
        "result": "Error" if failed else "Success",
        "traceback": ("  File \"nova/conductor/manager.py\", line 1683, in schedule_and_build_instances\n"
                      "    host_lists = self._schedule_instances(context, request_specs[0],\n"
                      "nova.exception.NoValidHost: No valid host was found. ") if failed else None,
        "details": fault[2] if failed else None,
    }
    return {"action": "create", "request_id": _request_id(s["id"] + ":create"), "user_id": s["user_id"],
            "project_id": s["tenant_id"], "_start": start, "message": "Error" if failed else None,
            "_events": [event] if s.get("_launched") or failed or fault else []}


def record_action(sim: Simulator, s: dict[str, Any], action: str, request_id: str, request: Request) -> None:
    """Record an accepted action; a move the scheduler rejects afterwards (``_move_failure``, set by
    :mod:`app.simulator.nova_moves`) gets a failed event with Nova's message, and the action message Error."""
    tok = token(request)
    now = sim.now()
    failure = s.pop("_move_failure", None)
    events = [] if action in NO_EVENTS else [{
        "event": EVENT_NAMES.get(action, f"compute_{action}_instance"), "_start": now,
        "_finish": now + sim.transition_seconds, "result": "Error" if failure else "Success",
        "traceback": (f"nova.exception.NoValidHost: {failure}\n" if failure else None), "details": failure}]
    s.setdefault("_actions", []).append({"action": action, "request_id": request_id, "user_id": tok.user_id,
                                         "project_id": tok.project_id, "_start": now,
                                         "message": "Error" if failure else None, "_events": events})


def _actions(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Newest first."""
    return [*reversed(s.get("_actions", [])), _created_action(s)]


def _render_event(sim: Simulator, s: dict[str, Any], e: dict[str, Any], mv: MV, admin: bool) -> dict[str, Any]:
    done = e["_finish"] is not None and e["_finish"] <= sim.now()
    out: dict[str, Any] = {"event": e["event"], "start_time": iso_micro(e["_start"]),
                           "finish_time": iso_micro(e["_finish"]) if done else None,
                           "result": e["result"] if done else None}
    if admin:
        out["traceback"] = e["traceback"]
    if mv >= (2, 62):
        out["host"] = s.get("OS-EXT-SRV-ATTR:host") or "fake-mini"
        out["hostId"] = _host_id(s)
    if mv >= (2, 84):
        out["details"] = e["details"]
    return out


def _render(sim: Simulator, s: dict[str, Any], a: dict[str, Any], mv: MV) -> dict[str, Any]:
    finishes = [e["_finish"] for e in a["_events"] if e["_finish"] is not None and e["_finish"] <= sim.now()]
    out = {"action": a["action"], "instance_uuid": s["id"], "request_id": a["request_id"], "user_id": a["user_id"],
           "project_id": a["project_id"], "start_time": iso_micro(a["_start"]), "message": a["message"]}
    if mv >= (2, 58):
        out["updated_at"] = iso_micro(max(finishes, default=a["_start"]))
    return out


def _server(sim: Simulator, request: Request) -> dict[str, Any]:
    from app.simulator.nova_servers import get_server

    return get_server(sim, request, request.path_params["id"])


async def list_actions(sim: Simulator, request: Request, mv: MV) -> Response:
    s = _server(sim, request)
    return json_body({"instanceActions": [_render(sim, s, a, mv) for a in _actions(s)]})


async def show_action(sim: Simulator, request: Request, mv: MV) -> Response:
    s = _server(sim, request)
    rid = request.path_params["request_id"]
    a = next((a for a in _actions(s) if a["request_id"] == rid), None)
    if a is None:
        raise SimHTTPError(404, f"Action {rid} on instance {s['id']} could not be found.")
    out = _render(sim, s, a, mv)
    admin = is_admin(request)
    if admin or mv >= (2, 51):
        out["events"] = [_render_event(sim, s, e, mv, admin) for e in a["_events"]]
    return json_body({"instanceAction": out})


def console_text(s: dict[str, Any]) -> list[str]:
    """A deterministic boot log for the server (kernel, cloud-init, login prompt)."""
    name = s["name"]
    lines = [f"[    0.000000] Linux version 6.8.0-51-generic (buildd@lcy02-amd64-{s['_n'] % 97:03d}) #52-Ubuntu SMP",
             "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0"]
    for i in range(2, CONSOLE_LINES - 7):
        lines.append(f"[{i * 0.0731:12.6f}] virtio_blk virtio{i % 4}: [vda] {i * 1024} 512-byte logical blocks"
                     if i % 3 else f"[{i * 0.0731:12.6f}] systemd[1]: Started unit-{i:03d}.service.")
    lines += [f"ci-info: +++++++++++++++++++++++++Net device info for {name}++++++++++++++++++++++++++",
              f"Cloud-init v. 24.1 running 'modules:final' at {s['created']}. Up 12.31 seconds.",
              f"Cloud-init v. 24.1 finished at {s['created']}. Datasource DataSourceOpenStackLocal.",
              "", f"Ubuntu 24.04 LTS {name} ttyS0", "", f"{name} login: "]
    return lines[:CONSOLE_LINES]


async def console_output(sim: Simulator, request: Request, s: dict[str, Any], arg: Any) -> Response:
    length: Any = (arg or {}).get("length") if isinstance(arg, dict) else None
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise SimHTTPError(400, f"Invalid input for field/attribute length. Value: {length}.") from None
        if length < -1:
            raise SimHTTPError(400, f"Invalid input for field/attribute length. Value: {length}. "
                                    f"{length} is less than the minimum of -1")
    if not s.get("OS-EXT-SRV-ATTR:host"):
        raise SimHTTPError(409, f"Instance {s['id']} is not ready")
    lines = console_text(s)
    if length is not None and length >= 0:
        lines = lines[-length:] if length else []
    return json_body({"output": "\n".join(lines)})


async def server_action(sim: Simulator, request: Request, mv: MV) -> Response:
    """``POST /servers/{id}/action``: the console output here; every other action goes to
    :func:`app.simulator.nova_actions.server_action` and, once accepted, is recorded as an instance action."""
    from app.simulator import nova_actions as sv

    body = await read_json(request)
    if isinstance(body, dict) and len(body) == 1 and "os-getConsoleOutput" in body:
        return await console_output(sim, request, _server(sim, request), body["os-getConsoleOutput"])
    resp = await sv.server_action(sim, request, mv)
    name = ACTION_NAMES.get(next(iter(body)) if isinstance(body, dict) and body else "")
    if resp.status_code == 202 and name:
        rid = resp.headers.get("x-openstack-request-id") or _request_id(f"{request.path_params['id']}:{sim.now()}")
        record_action(sim, _server(sim, request), name, rid, request)
    return resp
