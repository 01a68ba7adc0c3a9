"""Tools that answer from the snapshot's history (the change log): what changed, and when."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import changes as svc
from app.tools.base import app_context, register_tool


async def get_changes(
    ctx: Context[AppContext],
    since: Annotated[str, Field(description="Start of the window: ISO 8601 (2026-11-30T09:00:00Z; naive = "
                                                  "UTC) or a duration back from now (90m, 6h, 2d).")] = "24h",
    until: Annotated[str | None, Field(description="End of the window (same forms); now if omitted.")] = None,
    kinds: Annotated[str | None, Field(description="Comma list of kinds (servers, volumes, ...); all if omitted.")] = None,
    project: Annotated[str | None, Field(description="Only changes of this project ID.")] = None,
    change: Annotated[Literal["created", "changed", "deleted"] | None,
                      Field(description="Only this kind of change.")] = None,
    limit: Annotated[int, Field(description="Changes per page (1..200).", ge=1, le=200)] = 50,
    offset: Annotated[int, Field(description="Skip this many changes (newest first).", ge=0)] = 0,
) -> svc.Changes:
    """What changed in the cloud over a time window, as the poller saw it: instances, volumes,
    networks... created, deleted, or changed (with before/after values of the columns that changed,
    e.g. status ACTIVE->ERROR, host, flavor, size). Starts with a summary (counts per kind, commonest
    status transitions), then a page of changes, newest first. Answers "what changed since 9?",
    "which instances went to ERROR today?" (kinds=servers, change=changed). History starts when the
    server began watching a kind and is kept OPS_CHANGE_RETENTION_DAYS."""
    return await svc.get_changes(app_context(ctx), since, until, kinds, project, change, limit, offset)


async def get_instance_history(
    ctx: Context[AppContext],
    instance: Annotated[str, Field(description="Instance ID or exact name (live or deleted).")],
    limit: Annotated[int, Field(description="Changes per page (1..200).", ge=1, le=200)] = 50,
    offset: Annotated[int, Field(description="Skip this many changes (newest first).", ge=0)] = 0,
) -> svc.InstanceHistory:
    """Every change the poller saw on one instance, newest first: status, task state, host (migrations),
    flavor (resizes), power state, with times, plus when it was first seen and whether it is deleted.
    Answers "when did this server go to ERROR?", "was it migrated?". For who did it, see the
    instance's actions in OpenStack."""
    return await svc.get_instance_history(app_context(ctx), instance, limit, offset)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_changes, title="What changed in the cloud")
    register_tool(mcp, get_instance_history, title="History of one instance")
