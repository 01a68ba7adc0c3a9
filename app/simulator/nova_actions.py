"""Nova server lifecycle in the simulator: the actions (stop, start, pause, suspend, reboot, lock, and
the moves in :mod:`app.simulator.nova_moves`) validated as the API does and run as lazy transitions,
failing a server into ERROR with a fault, and delete (tombstoned). Records and listing:
:mod:`app.simulator.nova_servers`."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator import nova_moves
from app.simulator.core import SimHTTPError, Simulator, iso
from app.simulator.nova_common import MV, PAUSED, RUNNING, SHUTDOWN, SUSPENDED, bump, is_admin, status_of
from app.simulator.nova_servers import FAULT_MSG, get_server


ACTIONS: dict[str, tuple[set[str], str, dict[str, Any]]] = {
    "os-stop": ({"active", "error"}, "powering-off", {"OS-EXT-STS:vm_state": "stopped", "OS-EXT-STS:power_state": SHUTDOWN}),
    "os-start": ({"stopped"}, "powering-on", {"OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": RUNNING}),
    "pause": ({"active"}, "pausing", {"OS-EXT-STS:vm_state": "paused", "OS-EXT-STS:power_state": PAUSED}),
    "unpause": ({"paused"}, "unpausing", {"OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": RUNNING}),
    "suspend": ({"active"}, "suspending", {"OS-EXT-STS:vm_state": "suspended", "OS-EXT-STS:power_state": SUSPENDED}),
    "resume": ({"suspended"}, "resuming", {"OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": RUNNING}),
}
HARD_REBOOT_VM = {"active", "stopped", "paused", "suspended", "error"}
ALLOW_REBOOT_TASK = {None, "rebooting", "reboot_pending", "reboot_started", "suspending", "pausing", "unpausing",
                     "resuming", "powering-off", "powering-on"}


def _conflict(action: str, s: dict[str, Any], attr: str) -> SimHTTPError:
    action = action.removeprefix("os-")  # Nova names the compute API method: 'stop', 'start', ...
    state = s["OS-EXT-STS:vm_state"] if attr == "vm_state" else s["OS-EXT-STS:task_state"]
    return SimHTTPError(409, f"Cannot '{action}' instance {s['id']} while it is in {attr} {state}")


def start_transition(sim: Simulator, s: dict[str, Any], task: str, final: dict[str, Any]) -> None:
    """Set ``task`` now; apply ``final`` (task cleared, status recomputed) after ``transition_seconds``."""
    s.pop("_pending", None)
    s["OS-EXT-STS:task_state"] = task
    s["status"] = status_of(s["OS-EXT-STS:vm_state"], task)
    s["updated"] = iso(sim.now())
    vm = final.get("OS-EXT-STS:vm_state", s["OS-EXT-STS:vm_state"])
    sim.schedule(s, {**final, "OS-EXT-STS:task_state": None, "status": status_of(vm, None)})
    bump(sim)


def run_action(sim: Simulator, s: dict[str, Any], action: str, arg: Any, admin: bool = True) -> None:
    """Validate and start a server action exactly as the API does (raises SimHTTPError 409/400)."""
    vm, task = s["OS-EXT-STS:vm_state"], s["OS-EXT-STS:task_state"]
    if action in ("lock", "unlock"):
        s["locked"] = action == "lock"
        s["_locked_reason"] = (arg or {}).get("locked_reason") if action == "lock" and isinstance(arg, dict) else None
        s["updated"] = iso(sim.now())
        return
    if s.get("locked") and not admin:
        raise SimHTTPError(409, f"Instance {s['id']} is locked")
    if action == "reboot":
        rtype = str((arg or {}).get("type", "")).upper() if isinstance(arg, dict) else ""
        if rtype not in ("SOFT", "HARD"):
            raise SimHTTPError(400, "Invalid input for field/attribute type. Value: %s. 'type' must be one of "
                                    "['HARD', 'Hard', 'SOFT', 'Soft']" % rtype)
        if rtype == "SOFT":
            if vm != "active":
                raise _conflict("reboot", s, "vm_state")
            if task is not None:
                raise _conflict("reboot", s, "task_state")
            start_transition(sim, s, "rebooting", {"OS-EXT-STS:power_state": RUNNING})
        else:
            if vm not in HARD_REBOOT_VM:
                raise _conflict("reboot", s, "vm_state")
            if task not in ALLOW_REBOOT_TASK:
                raise _conflict("reboot", s, "task_state")
            start_transition(sim, s, "rebooting_hard", {"OS-EXT-STS:vm_state": "active",
                                                        "OS-EXT-STS:power_state": RUNNING})
        return
    spec = ACTIONS.get(action)
    if spec is None:
        raise SimHTTPError(400, f"There is no such action: {action}")
    allowed, new_task, final = spec
    if vm not in allowed:
        raise _conflict(action, s, "vm_state")
    if task is not None:
        raise _conflict(action, s, "task_state")
    if not s["_launched"]:
        raise _conflict(action, s, "launched_at")
    start_transition(sim, s, new_task, final)


async def server_action(sim: Simulator, request: Request, mv: MV) -> Response:
    from app.simulator.core import read_json

    s = get_server(sim, request, request.path_params["id"])
    body = await read_json(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise SimHTTPError(400, "Malformed request body")
    (action, arg), = body.items()
    if action in nova_moves.MOVE_ACTIONS:
        if s.get("locked") and not is_admin(request):
            raise SimHTTPError(409, f"Instance {s['id']} is locked")
        nova_moves.run(sim, s, action, arg, mv)
    else:
        run_action(sim, s, action, arg, admin=is_admin(request))
    return Response(status_code=202, headers={"x-openstack-request-id": "req-" + secrets.token_hex(16)})


def fail_server(sim: Simulator, s: dict[str, Any], message: str = FAULT_MSG) -> None:
    """Put a server in ERROR with a fault (churn; also what a failed build looks like)."""
    s.pop("_pending", None)
    now = sim.now()
    s.update({"OS-EXT-STS:vm_state": "error", "OS-EXT-STS:task_state": None, "status": "ERROR",
              "updated": iso(now), "_fault": (500, now, message)})
    if s["OS-EXT-STS:power_state"] == RUNNING and "host" in message:
        s["OS-EXT-STS:power_state"] = 0
    bump(sim)


def delete_server(sim: Simulator, s: dict[str, Any]) -> None:
    """Delete now: ports released, volumes detached, record tombstoned with status DELETED."""
    from app.simulator import cinder, neutron

    now = sim.now()
    s.pop("_pending", None)
    s.update({"OS-EXT-STS:vm_state": "deleted", "OS-EXT-STS:task_state": None, "status": "DELETED",
              "OS-EXT-STS:power_state": 0, "updated": iso(now), "_terminated": now})
    neutron.detach_server_ports(sim, s["id"])
    for vid in cinder.server_volume_ids(sim, s["id"]):
        vol = sim.state.get("volumes", vid)
        if vol is not None:
            cinder.detach_all(sim, vol)
            vol.update(status="available", attach_status="detached", updated_at=iso(now))
    sim.state.remove("servers", s["id"], keep_tombstone=True)
    bump(sim)


async def delete(sim: Simulator, request: Request, mv: MV) -> Response:
    s = get_server(sim, request, request.path_params["id"])
    if s.get("locked") and not is_admin(request):
        raise SimHTTPError(409, f"Instance {s['id']} is locked")
    delete_server(sim, s)
    return Response(status_code=204)
