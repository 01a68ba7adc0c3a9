"""Nova server moves: ``resize``, ``confirmResize``, ``revertResize``, ``migrate`` (cold) and
``os-migrateLive``, with Nova's state machine and validation (nova/api/openstack/compute/
migrate_server.py, servers.py; nova/compute/api.py):

* resize / migrate: vm_state active or stopped, no task; task ``resize_prep`` (RESIZE) then
  ``resize_migrating``; then vm_state ``resized`` (VERIFY_RESIZE) on the new host with the new flavor.
  While resized the source keeps the old flavor's allocation (the migration's), as Placement does.
  ``confirmResize`` drops it (back to active/stopped, status stays VERIFY_RESIZE until the compute host
  confirms); ``revertResize`` (REVERT_RESIZE) goes back to the old host and flavor.
* live migrate: vm_state active or paused; task ``migrating`` (MIGRATING), then the new host.
* A destination the scheduler cannot use (no room, disabled, down, the same host) is accepted (202) and
  fails afterwards, as in Nova: the server returns idle where it was and its instance action records
  the error (``_move_failure``, read by :func:`app.simulator.nova_live.record_action`).
* Synchronous refusals: 409 wrong vm/task state, 400 unknown flavor / same flavor / unknown host /
  cold migration to its own host / ``host`` below 2.56 / ``block_migration`` not allowed at the
  microversion.
"""

from __future__ import annotations

from typing import Any

from app.simulator.core import SimHTTPError, Simulator, iso
from app.simulator.nova_common import MV, bump, status_of

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
MOVE_ACTIONS = ("resize", "confirmResize", "revertResize", "migrate", "os-migrateLive")


def _conflict(method: str, s: dict[str, Any], attr: str) -> SimHTTPError:
    state = s["OS-EXT-STS:vm_state"] if attr == "vm_state" else s["OS-EXT-STS:task_state"]
    return SimHTTPError(409, f"Cannot '{method}' instance {s['id']} while it is in {attr} {state}")


def _check_state(s: dict[str, Any], method: str, vm_states: tuple[str, ...]) -> None:
    if s["OS-EXT-STS:vm_state"] not in vm_states:
        raise _conflict(method, s, "vm_state")
    if s["OS-EXT-STS:task_state"] is not None:
        raise _conflict(method, s, "task_state")


def _hypervisor(sim: Simulator, host: str) -> dict[str, Any]:
    h = next((h for h in sim.state.values("hypervisors") if h["host"] == host), None)
    if h is None:
        raise SimHTTPError(400, f"Compute host {host} could not be found.")
    return h


def _begin(sim: Simulator, s: dict[str, Any], task: str) -> None:
    s.pop("_pending", None)
    s["OS-EXT-STS:task_state"] = task
    s["status"] = status_of(s["OS-EXT-STS:vm_state"], task)
    s["updated"] = iso(sim.now())
    bump(sim)


def _finish(sim: Simulator, s: dict[str, Any], changes: dict[str, Any], steps: tuple[str, ...] = ()) -> None:
    """Chain the intermediate task states ``steps``, then ``changes`` with the task cleared."""
    half = sim.transition_seconds / (len(steps) + 1)
    for task in steps:
        sim.schedule(s, {"OS-EXT-STS:task_state": task}, after=half)
    vm = changes.get("OS-EXT-STS:vm_state", s["OS-EXT-STS:vm_state"])
    sim.schedule(s, {**changes, "OS-EXT-STS:task_state": None, "status": status_of(vm, None),
                     "_moved": lambda _r: bump(sim)}, after=half)


def _failed(sim: Simulator, s: dict[str, Any], message: str, steps: tuple[str, ...] = ()) -> None:
    """Accepted, then rejected by the scheduler/conductor: idle again where it was."""
    s["_move_failure"] = message
    _finish(sim, s, {"OS-EXT-STS:vm_state": s["OS-EXT-STS:vm_state"]}, steps)


def _place(sim: Simulator, s: dict[str, Any], flavor: dict[str, Any], host: str | None) -> dict[str, Any] | None:
    from app.simulator.nova_create import pick_host

    current = s["OS-EXT-SRV-ATTR:host"]
    if host == current:
        return None  # the scheduler never picks the source (allow_resize_to_same_host=False, Nova's default)
    return pick_host(sim, flavor, s.get("_pinned_az"), only=host, exclude=current)


def _cold(sim: Simulator, s: dict[str, Any], method: str, flavor: dict[str, Any], host: str | None) -> None:
    _check_state(s, method, ("active", "stopped"))
    dest = _place(sim, s, flavor, host)
    _begin(sim, s, "resize_prep")
    if dest is None:
        _failed(sim, s, NO_VALID_HOST)
        return
    s["_migration"] = {"host": s["OS-EXT-SRV-ATTR:host"], "node": s["OS-EXT-SRV-ATTR:hypervisor_hostname"],
                       "flavor": s["_flavor"], "vm_state": s["OS-EXT-STS:vm_state"]}
    _finish(sim, s, {"OS-EXT-STS:vm_state": "resized", "OS-EXT-SRV-ATTR:host": dest["host"],
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": dest["hypervisor_hostname"], "_flavor": flavor["id"]},
            ("resize_migrating",))


def resize(sim: Simulator, s: dict[str, Any], arg: Any) -> None:
    _check_state(s, "resize", ("active", "stopped"))
    ref = str((arg or {}).get("flavorRef") or "") if isinstance(arg, dict) else ""
    flavor = sim.state.get("flavors", ref.rsplit("/", 1)[-1]) if ref else None
    if flavor is None:
        raise SimHTTPError(400, "Unable to locate requested flavor.")
    if flavor["id"] == s["_flavor"]:
        raise SimHTTPError(400, "When resizing, instances must change flavor!")
    _cold(sim, s, "resize", flavor, None)


def migrate(sim: Simulator, s: dict[str, Any], arg: Any, mv: MV) -> None:
    _check_state(s, "migrate", ("active", "stopped"))
    host = (arg or {}).get("host") if isinstance(arg, dict) else None
    if host is not None and mv < (2, 56):
        raise SimHTTPError(400, f"Invalid input for field/attribute migrate. Value: {arg}. Additional properties are "
                                "not allowed ('host' was unexpected)")
    if host is not None:
        _hypervisor(sim, host)
        if host == s["OS-EXT-SRV-ATTR:host"]:
            raise SimHTTPError(400, "Cannot migrate to the host where the server exists.")
    _cold(sim, s, "migrate", sim.state.get("flavors", s["_flavor"]) or {}, host)


def confirm_resize(sim: Simulator, s: dict[str, Any]) -> None:
    _check_state(s, "confirmResize", ("resized",))
    old = s.pop("_migration", None) or {}  # the source's allocation goes now
    s["updated"] = iso(sim.now())
    bump(sim)
    _finish(sim, s, {"OS-EXT-STS:vm_state": old.get("vm_state", "active")})


def revert_resize(sim: Simulator, s: dict[str, Any]) -> None:
    _check_state(s, "revertResize", ("resized",))
    old = s.get("_migration") or {}
    _begin(sim, s, "resize_reverting")
    _finish(sim, s, {"OS-EXT-STS:vm_state": old.get("vm_state", "active"), "OS-EXT-SRV-ATTR:host": old.get("host"),
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": old.get("node"), "_flavor": old.get("flavor"),
                     "_migration": lambda r: r.pop("_migration", None)})


def live_migrate(sim: Simulator, s: dict[str, Any], arg: Any, mv: MV) -> None:
    body = arg if isinstance(arg, dict) else {}
    block = body.get("block_migration")
    allowed: tuple[Any, ...] = (True, False, "auto") if mv >= (2, 25) else (True, False)
    if block not in allowed or (mv < (2, 25) and "disk_over_commit" not in body):
        raise SimHTTPError(400, f"Invalid input for field/attribute block_migration. Value: {block}. "
                                f"{block!r} is not one of {list(allowed)}")
    host = body.get("host")
    if host is not None:
        _hypervisor(sim, host)
    _check_state(s, "live_migrate", ("active", "paused"))
    dest = _place(sim, s, sim.state.get("flavors", s["_flavor"]) or {}, host)
    _begin(sim, s, "migrating")
    if dest is None:
        reason = (f"Unable to migrate instance ({s['id']}) to current host ({host})." if host and
                  host == s["OS-EXT-SRV-ATTR:host"] else NO_VALID_HOST)
        _failed(sim, s, reason)
        return
    _finish(sim, s, {"OS-EXT-SRV-ATTR:host": dest["host"],
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": dest["hypervisor_hostname"]})


def run(sim: Simulator, s: dict[str, Any], action: str, arg: Any, mv: MV) -> None:
    """One of :data:`MOVE_ACTIONS` (raises SimHTTPError for synchronous refusals)."""
    if action == "resize":
        resize(sim, s, arg)
    elif action == "migrate":
        migrate(sim, s, arg, mv)
    elif action == "confirmResize":
        confirm_resize(sim, s)
    elif action == "revertResize":
        revert_resize(sim, s)
    else:
        live_migrate(sim, s, arg, mv)
