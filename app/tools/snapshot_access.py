"""Direct access to what the snapshot stores: any object by kind and ID or name (get_resource), and
the description of every table and view (describe_snapshot) for writing SQL (query_snapshot, when
enabled, is in :mod:`app.tools.snapshot_sql`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.resources.registry import all_specs
from app.services import stored_objects as inv
from app.services import sql_schema as sql
from app.tools.base import app_context, register_tool

Kind = Literal[tuple(all_specs())]  # type: ignore[valid-type]


async def get_resource(
    ctx: Context[AppContext],
    kind: Annotated[Kind, Field(description="What kind of object (servers, volumes, ports, stacks, ...).")],
    id_or_name: Annotated[str, Field(description="The object's ID (live or deleted) or exact name (live).")],
) -> inv.StoredObject:
    """Any object the snapshot stores, as OpenStack returned it (secrets stripped at sync; long values
    clipped to fit the answer): a port, subnet, network agent, availability zone, resource provider
    (with its inventories and usages), stack, user, ... with when it was first and last seen and
    whether it is deleted. Use it for fields the list tools do not show; an ambiguous name is an
    error listing the IDs."""
    return await inv.get_resource(app_context(ctx), kind, id_or_name)


async def describe_snapshot(
    ctx: Context[AppContext],
    table: Annotated[str | None, Field(description="One table or view (servers, v_instances, ...): its columns "
                                                   "with types and descriptions. Omitted: every table and view "
                                                   "with a one-line description.")] = None,
) -> sql.SchemaDescription:
    """The snapshot database's tables and views, for writing SQL: what each holds, and per table its
    columns (type, description) and indexes. Every snapshot table has cloud, id, typed columns,
    first_seen_at/last_seen_at/deleted_at (live rows: deleted_at IS NULL) and the raw JSON object.
    Use with query_snapshot when it is enabled, or with sqlite3 / a BI tool on the database file."""
    return await sql.describe_snapshot(app_context(ctx), table)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_resource, title="Any stored object by kind and ID or name", cached=True)
    register_tool(mcp, describe_snapshot, title="Describe the snapshot's tables and views")
