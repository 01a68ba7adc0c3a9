"""manage_instance: Nova server lifecycle (write tool; registered only when writes are enabled)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services.manage.instances import MANAGE_INSTANCE
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, Timeout, Wait, caller


ACTION_ENUM = {"enum": MANAGE_INSTANCE.action_names}


async def manage_instance(
    ctx: Context[AppContext],
    instance_name: Annotated[str, Field(description="The instance's exact name or ID (an ambiguous name is refused).")],
    action: Annotated[str, Field(
        description="start, stop, restart, pause, unpause, suspend, resume, resize, confirm_resize, revert_resize, "
                    "migrate or live_migrate.", json_schema_extra=ACTION_ENUM)],
    reboot_type: Annotated[str, Field(description="For restart: SOFT (guest OS restart) or HARD (power cycle; needs confirmation).")] = "SOFT",
    flavor: Annotated[str | None, Field(description="For resize: the new flavor's exact name or ID.")] = None,
    target_host: Annotated[str | None, Field(
        description="For migrate / live_migrate: the compute host to move to (as get_hypervisor_list shows it); "
                    "omit to let the scheduler choose.")] = None,
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> OperationResult:
    """Change an instance's power state or move it. Actions: start, stop, restart (reboot_type SOFT or
    HARD), pause, unpause, suspend, resume; resize (flavor), then confirm_resize or revert_resize;
    migrate (cold, optional target_host), live_migrate (optional target_host, block migration auto);
    any other action is refused.

    stop, a HARD restart, resize, migrate, live_migrate and revert_resize are destructive: the first call
    changes nothing and returns a preview plus a confirmation_token; show the preview to the user and,
    with their consent, repeat the identical call with confirmation_token. The preview of a move shows
    the target host's free VCPU/RAM/disk against what the flavor needs (or, without target_host, the
    hosts with most room); a target that cannot fit it, is disabled or down, or an unknown flavor is
    refused before anything is sent. resize and migrate end in VERIFY_RESIZE: confirm_resize keeps the
    result, revert_resize goes back. The result reports the instance's refreshed state (status,
    task_state, host, flavor); wait=true polls until the target state or timeout. An instance in the
    wrong state (e.g. start on ACTIVE) is refused by OpenStack with a conflict error."""
    args: dict[str, Any] = {"instance_name": instance_name, "reboot_type": reboot_type if action == "restart" else None}
    if action == "resize":
        args["flavor"] = flavor
    if action in ("migrate", "live_migrate"):
        args["target_host"] = target_host
    return await MANAGE_INSTANCE.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                     timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_instance, title="Start, stop, reboot, pause, suspend, resize or migrate an instance",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
