"""Tools about the snapshot itself."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services.sync_status import SyncStatus, sync_status
from app.tools.base import app_context, register_tool


async def get_sync_status(
    ctx: Context[AppContext],
    kind: Annotated[str | None, Field(description="Only this resource kind (e.g. servers); all kinds if omitted.")] = None,
    runs: Annotated[int, Field(description="How many recent sync runs to include (1..200).")] = 20,
) -> SyncStatus:
    """How fresh the snapshot is: per-kind last successful sync, staleness, failures (with the
    OpenStack error), whether this process is the poller, and the most recent sync runs. Use it to
    explain a stale answer or a kind marked unavailable (e.g. missing admin rights)."""
    return await sync_status(app_context(ctx), kind, runs)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_sync_status, title="Snapshot freshness and sync runs")
