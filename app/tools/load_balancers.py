"""Octavia read tools (answered from the snapshot): the load balancers with their status mix, and one
load balancer as a tree of listeners, pools, health monitors and members."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import load_balancers as svc
from app.services.models import schema_bounds
from app.services.query import MAX_OFFSET
from app.tools.base import app_context, register_tool
from app.tools.detail import Detail, lean

Provisioning = Literal["ACTIVE", "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "ERROR", "DELETED"]
Operating = Literal["ONLINE", "DEGRADED", "ERROR", "OFFLINE", "DRAINING", "NO_MONITOR"]
DEFAULT_MEMBERS = 20


@lean("id", "name", "provisioning_status", "operating_status", "vip_address", "project_name", "members_down")
async def get_load_balancers(
    ctx: Context[AppContext],
    status: Annotated[Provisioning | None, Field(description="Only this provisioning_status (ERROR: the last change "
                                                             "failed; PENDING_*: a change is running).")] = None,
    operating_status: Annotated[Operating | None, Field(description="Only this operating_status (DEGRADED: some "
                                                                    "members down; ERROR: none serving).")] = None,
    project: Annotated[str | None, Field(description="Only this project (exact name or ID).")] = None,
    name: Annotated[str | None, Field(description="Only load balancers whose name, ID or VIP address contains this text.")] = None,
    limit: Annotated[int, Field(description="Load balancers per page (1..200).", json_schema_extra=schema_bounds(1, 200))] = 50,
    offset: Annotated[int, Field(description="Skip this many (by name); the next page is offset + returned.",
                                 json_schema_extra=schema_bounds(0, MAX_OFFSET))] = 0,
    detail: Detail = "brief",
) -> svc.LoadBalancerList:
    """Octavia load balancers of every project: provisioning_status (did the last change go through),
    operating_status (does it serve: ONLINE, DEGRADED, ERROR), VIP address and subnet, provider, project,
    how many listeners and pools, and how many members are down (ERROR/OFFLINE while enabled). The
    summary leads with the counts per status and names the load balancers with problems. For one load
    balancer's listeners, pools, health monitors and members: get_load_balancer."""
    return await svc.load_balancer_list(app_context(ctx), status=status, operating_status=operating_status,
                                        project=project, name=name, limit=limit, offset=offset)


async def get_load_balancer(
    ctx: Context[AppContext],
    name_or_id: Annotated[str, Field(description="The load balancer's ID or exact name.")],
    limit: Annotated[int, Field(description=f"Members shown per pool, down ones first (1..{svc.MAX_MEMBERS}); every "
                                            "pool still says how many it has and how many are down.",
                                json_schema_extra=schema_bounds(1, svc.MAX_MEMBERS))] = DEFAULT_MEMBERS,
) -> svc.LoadBalancerTree:
    """One Octavia load balancer as a tree: each listener (protocol, port, statuses) with its default
    pool (algorithm, statuses, health monitor with type/delay/timeout/retries, members with address,
    port, weight, admin state and operating status), the pools no listener uses, the amphorae (admin),
    and `problems`: which listener, pool or member is in ERROR, DEGRADED or down, one line each. Use it
    to answer "why is this load balancer DEGRADED?"."""
    return await svc.load_balancer_tree(app_context(ctx), name_or_id, limit=limit, default_limit=DEFAULT_MEMBERS)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_load_balancers, title="Octavia load balancers and their status", cached=True)
    register_tool(mcp, get_load_balancer, title="One load balancer: listeners, pools, members, health monitors",
                  cached=True)
