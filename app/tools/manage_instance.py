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


async def manage_instance(
    ctx: Context[AppContext],
    instance_name: Annotated[str, Field(description="The instance's exact name or ID (an ambiguous name is refused).")],
    action: Annotated[str, Field(description="start, stop, restart, pause, unpause, suspend or resume.")],
    reboot_type: Annotated[str, Field(description="For restart: SOFT (guest OS restart) or HARD (power cycle; needs confirmation).")] = "SOFT",
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> OperationResult:
    """Change an instance's power state. Actions: start, stop, restart (reboot_type SOFT or HARD),
    pause, unpause, suspend, resume; any other action is refused.

    stop and a HARD restart are destructive: the first call changes nothing and returns a preview plus
    a confirmation_token; show the preview to the user and, with their consent, repeat the identical call
    with confirmation_token. The result reports the instance's refreshed state (status, task_state);
    wait=true polls until the target state (ACTIVE, SHUTOFF, PAUSED, SUSPENDED) or timeout. An instance in
    the wrong state (e.g. start on ACTIVE) is refused by OpenStack with a conflict error."""
    return await MANAGE_INSTANCE.run(
        caller(ctx), action,
        {"instance_name": instance_name, "reboot_type": reboot_type if action == "restart" else None},
        confirmation_token=confirmation_token, wait=wait, timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_instance, title="Start, stop, reboot, pause or suspend an instance",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
