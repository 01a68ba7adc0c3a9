"""The audit log of management tools, readable whether or not writes are enabled."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services.operation_log import operation_log
from app.services.operations.models import OperationLog
from app.tools.base import app_context, register_tool


async def get_operation_log(
    ctx: Context[AppContext],
    limit: Annotated[int, Field(description="Rows per page (1..200).")] = 50,
    offset: Annotated[int, Field(description="Rows to skip (page with offset + returned).")] = 0,
    tool: Annotated[str | None, Field(description="Only calls of this management tool, e.g. manage_instance.")] = None,
) -> OperationLog:
    """Audit log of management calls (manage_*), newest first: when, who (principal), tool, action,
    targets, arguments (secrets redacted), outcome (preview, succeeded, timed_out, refused, failed),
    error and OpenStack request ids. Use it to answer "what was changed, by whom, and did it work"."""
    return await operation_log(app_context(ctx), limit, offset, tool)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_operation_log, title="Management operations audit log")
