"""Monitoring tools: whole-cloud status with a health score, service health, capacity and usage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.services.cluster_status import KINDS as CLUSTER_KINDS
from app.services.cluster_status import ClusterStatus, cluster_status
from app.services.resources_monitor import KINDS as MONITOR_KINDS
from app.services.resources_monitor import ResourceMonitor
from app.services.resources_monitor import monitor_resources as monitor_service
from app.services.service_status import ServiceStatus, service_status
from app.tools.base import app_context, register_tool


async def get_cluster_status(
    ctx: Context,
    stuck_after_minutes: Annotated[int, Field(description="An instance whose task_state has not changed for this many minutes counts as stuck (1..10080).")] = 60,
    max_evidence: Annotated[int, Field(description="At most this many ids/names listed per issue (1..100).")] = 10,
    threshold_crit: Annotated[float, Field(description="Percent at which a hypervisor counts as full (issue hypervisor_full).")] = 90.0,
) -> ClusterStatus:
    """Whole-cloud health report from the snapshot: hypervisors (up/down, enabled/disabled, CPU/RAM/disk
    capacity vs use with allocation ratios), instances by status and availability zone, network and
    storage counts (FIPs associated or not, volumes by status, orphaned volumes, snapshots, volume types),
    Heat stacks, service health, a 0-100 `health_score` and `issues` with evidence (names/ids), most
    severe first. Start here; drill down with get_service_status, monitor_resources or search_instances.
    Counts of kinds never synced are null (listed in `unknown_kinds`), not zero."""
    app = app_context(ctx)
    return await app.reports.get_or_compute(
        app, "cluster_status", (stuck_after_minutes, max_evidence, threshold_crit), CLUSTER_KINDS,
        lambda: cluster_status(app, stuck_after_minutes=stuck_after_minutes, max_evidence=max_evidence,
                               threshold_crit=threshold_crit),
        time_bucket=60,  # the "stuck in a task state" rule depends on the clock
    )


async def get_service_status(
    ctx: Context,
    only_problems: Annotated[bool, Field(description="Only services that are down or disabled.")] = False,
    service: Annotated[Literal["compute", "network", "block_storage"] | None,
                       Field(description="Only Nova services (compute), Neutron agents (network) or Cinder services (block_storage).")] = None,
    limit: Annotated[int, Field(description="Services per page (1..1000).")] = 200,
    offset: Annotated[int, Field(description="Skip this many services (down ones come first).")] = 0,
) -> ServiceStatus:
    """Every Nova service, Neutron agent and Cinder service with binary, host, zone, status
    (enabled/disabled), state (up/down), last heartbeat and disabled reason, plus a `down` list, counts
    per binary, and the API endpoints of the Keystone catalog (`catalog_error` says why if it could not
    be read). Use only_problems=true to see just what is down or disabled."""
    return await service_status(app_context(ctx), only_problems=only_problems, service=service, limit=limit,
                                offset=offset)


async def monitor_resources(
    ctx: Context,
    threshold_warn: Annotated[float, Field(description="Percent at which a hypervisor is listed in over_warn.")] = 80.0,
    threshold_crit: Annotated[float, Field(description="Percent at which a hypervisor is listed in over_crit.")] = 90.0,
    limit: Annotated[int, Field(description="Hypervisors per page in `hypervisors` (1..200).")] = 50,
    offset: Annotated[int, Field(description="Skip this many hypervisors (ordered by hostname).")] = 0,
) -> ResourceMonitor:
    """CPU/RAM/disk capacity and use per hypervisor and in total. Capacity comes from Placement
    ((total - reserved) * allocation_ratio, use from usages) or, on clouds before compute 2.88 without a
    matching resource provider, from the hypervisor's own fields (`capacity_source` says which; null means
    unknown, never guessed). Also: allocation ratios, RAM committed vs physical RAM, hypervisors over the
    warning/critical thresholds, the most loaded hypervisors and the projects allocating the most vCPUs/RAM."""
    app = app_context(ctx)
    return await app.reports.get_or_compute(
        app, "monitor_resources", (threshold_warn, threshold_crit, limit, offset), MONITOR_KINDS,
        lambda: monitor_service(app, threshold_warn=threshold_warn, threshold_crit=threshold_crit,
                                limit=limit, offset=offset),
    )


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_cluster_status, title="Cloud health report")
    register_tool(mcp, get_service_status, title="Service and agent health")
    register_tool(mcp, monitor_resources, title="Hypervisor capacity and usage")
