"""Quota tools: one project's limits and usage, and the projects closest to a limit, from the
``project_quotas`` snapshot kind (see app/services/quotas.py); ``get_quota(live=true)`` asks OpenStack."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import quotas as svc
from app.tools.base import app_context, register_tool


async def get_quota(
    ctx: Context[AppContext],
    project: Annotated[str, Field(description="Project name or ID (exact).")],
    all_resources: Annotated[bool, Field(description="Also list the other resources (key pairs, security groups, "
                                                     "routers, backups, per-volume-type quotas...).")] = False,
    live: Annotated[bool, Field(description="Read the quotas from OpenStack now (three calls, cached 60 s) instead "
                                            "of the snapshot (synced every 5 minutes): for the project you are "
                                            "about to act on.")] = False,
) -> svc.ProjectQuota:
    """Quotas and usage of one project across compute, network and block storage: limit, in use,
    reserved and % used for instances, cores, RAM, floating IPs, ports, networks, volumes, gigabytes
    and snapshots (-1 = unlimited), with the resource closest to its limit first. Answers "can project X
    start 10 more instances?" and "why does X get 'Quota exceeded'?". From the snapshot (`fetched_at`
    says when OpenStack was asked); live=true reads OpenStack now. A service the credentials cannot read
    is listed under `unavailable`, never shown as zero."""
    return await svc.get_quota(app_context(ctx), project, all_resources, live)


async def get_quota_pressure(
    ctx: Context[AppContext],
    limit: Annotated[int, Field(description="How many projects to return (1..50).", ge=1, le=50)] = 10,
) -> svc.QuotaPressure:
    """The projects closest to one of their quota limits (highest % used first), each with what runs
    out first (e.g. compute/cores 95%, 38 of 40, headroom 2) and anything already at or over a limit,
    across every project in the snapshot. Use it to spot tenants about to hit 'Quota exceeded'; then
    get_quota(project) for the detail (live=true to re-read one project now)."""
    return await svc.get_quota_pressure(app_context(ctx), limit)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_quota, title="Quotas and usage of a project", open_world=True)
    register_tool(mcp, get_quota_pressure, title="Projects closest to a quota limit", cached=True)
