"""Live instance tools: what was done to an instance (Nova instance actions with events) and its
console log. Both call OpenStack when asked; nothing is stored in the snapshot."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import instance_live as svc
from app.tools.base import TextBounds, app_context, register_tool


async def get_instance_actions(
    ctx: Context[AppContext],
    instance: Annotated[str, Field(description="Instance name (exact) or ID.")],
    action: Annotated[str | None, TextBounds(64),
                      Field(description="Only this action: create, stop, start, reboot, resize, migrate, "
                                        "live-migration, delete, ... (all if omitted).")] = None,
    with_events: Annotated[bool, Field(description="Fetch each action's events (results, hosts, failure "
                                                   "details); up to 20 actions per page.")] = True,
    limit: Annotated[int, Field(description="Actions per page (1..50).", ge=1, le=50)] = 20,
    offset: Annotated[int, Field(description="Skip this many actions (newest first).", ge=0)] = 0,
) -> svc.InstanceActions:
    """Who did what to an instance and when, from Nova's instance actions: action, user (id and
    name), project, time, OpenStack request id, and events with their result; failed actions carry
    Nova's reason (and, for admins, the traceback). Answers "who stopped this server?", "when was it
    rebooted?", "why did the build fail?". Read live from Nova (cached 30 s)."""
    return await svc.get_instance_actions(app_context(ctx), instance, action, limit, offset, with_events)


async def get_console_log(
    ctx: Context[AppContext],
    instance: Annotated[str, Field(description="Instance name (exact) or ID.")],
    lines: Annotated[int, Field(description="How many of the last console lines (1..500).", ge=1, le=500)] = 50,
) -> svc.ConsoleLog:
    """The last lines of an instance's serial console log (boot messages, kernel panics, cloud-init
    errors, the login prompt), like a pod's logs. Read live from Nova, never stored; at most 500
    lines and 64 KB (older lines are cut first), escape sequences removed. Use it when an instance
    is ACTIVE but unreachable or failed to boot."""
    return await svc.get_console_log(app_context(ctx), instance, lines)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_instance_actions, title="Actions and events of an instance", open_world=True)
    register_tool(mcp, get_console_log, title="Console log of an instance", open_world=True)
