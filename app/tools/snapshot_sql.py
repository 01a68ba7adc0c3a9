"""query_snapshot: read-only SQL over the snapshot, registered only with OPS_SQL_TOOL_ENABLED=true
(see :mod:`app.services.sql_tool` for what a query may do and how that is enforced)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import sql_tool as svc
from app.tools.base import TextBounds, app_context, register_tool

SQL_BOUNDS = TextBounds(8192, multiline=True)


async def query_snapshot(
    ctx: Context[AppContext],
    sql: Annotated[str, SQL_BOUNDS, Field(description="One read-only SELECT (or WITH ... SELECT) over the snapshot "
                                                      "tables and views; describe_snapshot lists them. Live rows: "
                                                      "deleted_at IS NULL.")],
    limit: Annotated[int, Field(description="Most rows to return (1..500); more rows set truncated.",
                                ge=1, le=500)] = 100,
) -> svc.QueryResult:
    """Answer a question no other tool foresaw with one read-only SQL query over the snapshot, e.g.
    "SELECT host, count(*) FROM servers WHERE deleted_at IS NULL AND status='ERROR' GROUP BY host
    ORDER BY 2 DESC". Call describe_snapshot first for tables, views and columns (the raw API object
    is the JSON column raw). Only one SELECT runs, on a read-only connection, with a time limit
    (OPS_SQL_TOOL_TIMEOUT); writes, ATTACH, PRAGMA, temp tables, extension loading and several
    statements are refused. At most `limit` rows come back (truncated: true when more exist), long
    values clipped. Prefer the dedicated tools when one answers the question."""
    return await svc.query_snapshot(app_context(ctx), sql, limit)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, query_snapshot, title="Read-only SQL over the snapshot")
