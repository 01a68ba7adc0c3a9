"""manage_instance: Nova server lifecycle actions and moves (resize, migrate, live migrate: see
:mod:`app.services.manage.moves`). Stop, hard reboot, the moves and revert_resize need confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidArgument
from app.services.manage.moves import MOVE_ACTIONS
from app.services.operations import Action, Call, ManagedTool, Target

REBOOT_TYPES = ("SOFT", "HARD")
IDLE = (None,)


def reboot_type(args: Mapping[str, Any]) -> str:
    return str(args.get("reboot_type") or "SOFT").upper()


def _check_reboot(_t: Target | None, args: Mapping[str, Any]) -> None:
    if reboot_type(args) not in REBOOT_TYPES:
        raise InvalidArgument(f"reboot_type must be SOFT or HARD (got {args.get('reboot_type')!r}).")


def _state(t: Target | None) -> str:
    assert t is not None
    task = t.row.get("task_state")
    return f"{t.status}{f' ({task})' if task else ''}, power {t.row.get('power_state_name') or '-'}, host {t.row.get('host') or '-'}"


def _simple(name: str, method: str, goal_status: str, verb: str, effect: str = "", confirm: bool = False) -> Action:
    return Action(
        name=name, kind="servers", confirm=confirm,
        call=lambda c, m=method: getattr(c.conn.compute, m)(c.target.id),
        describe=lambda t, a, v=verb, e=effect: f"{v} instance {t.label() if t else '?'}{e} (now {_state(t)}).",
        goal={"status": (goal_status,), "task_state": IDLE})


def _reboot(c: Call) -> Any:
    return c.conn.compute.reboot_server(c.target.id, reboot_type(c.args))  # type: ignore[union-attr]


def _describe_reboot(t: Target | None, args: Mapping[str, Any]) -> str:
    kind = reboot_type(args)
    effect = ("power-cycle (like pulling the plug: unsaved guest data may be lost)" if kind == "HARD"
              else "ask the guest OS to restart")
    return f"{kind.title()} reboot instance {t.label() if t else '?'}: {effect} (now {_state(t)})."


ACTIONS = {
    "start": _simple("start", "start_server", "ACTIVE", "Power on"),
    "stop": _simple("stop", "stop_server", "SHUTOFF", "Power off", ": the guest is shut down and its services stop",
                    confirm=True),
    "restart": Action(name="restart", kind="servers", call=_reboot, describe=_describe_reboot,
                      confirm=lambda a: reboot_type(a) == "HARD", check=_check_reboot,
                      goal={"status": ("ACTIVE",), "task_state": IDLE}),
    "pause": _simple("pause", "pause_server", "PAUSED", "Pause", ": frozen in memory"),
    "unpause": _simple("unpause", "unpause_server", "ACTIVE", "Unpause"),
    "suspend": _simple("suspend", "suspend_server", "SUSPENDED", "Suspend", ": state saved to disk"),
    "resume": _simple("resume", "resume_server", "ACTIVE", "Resume"),
    **MOVE_ACTIONS,
}

MANAGE_INSTANCE = ManagedTool(name="manage_instance", what="instance", target_param="instance_name",
                              actions=ACTIONS)
