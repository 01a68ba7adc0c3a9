"""The tool comparing every cloud this server serves (OPS_CLOUDS)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.errors import InvalidArgument
from app.services.clouds import MAX_LIMIT, CloudsReport, clouds_report
from app.services.models import schema_bounds
from app.tools.base import app_context, register_tool


async def get_clouds(
    ctx: Context[AppContext],
    limit: Annotated[int, Field(description=f"Clouds per answer (1..{MAX_LIMIT}).",
                                json_schema_extra=schema_bounds(1, MAX_LIMIT))] = 20,
    offset: Annotated[int, Field(description="Skip this many clouds (paging).",
                                 json_schema_extra=schema_bounds(0))] = 0,
) -> CloudsReport:
    """Every cloud this server serves, side by side: its label (the `cloud` argument of every other
    tool), Keystone host, region and project; whether its snapshot is ready (and why not: the OpenStack
    error), who polls it (lease holder), and its totals: instances (ERROR), hypervisors (down),
    volumes (error), each null until that kind has synced. Start here when several clouds are served."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}.")
    if offset < 0:
        raise InvalidArgument("offset must be 0 or more.")
    return await clouds_report(app_context(ctx), limit, offset)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_clouds, title="Clouds served, side by side", spans_clouds=True)
