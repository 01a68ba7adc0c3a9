"""Monitoring tools: whole-cloud status with a health score, service health, capacity and usage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services.cluster_status import DEFAULT_CRIT, MAX_EVIDENCE, ClusterStatus, status_answer
from app.services.models import schema_bounds
from app.services.query import MAX_OFFSET
from app.services.resources_monitor import DEFAULTS as MONITOR_DEFAULTS
from app.services.resources_monitor import ResourceMonitor
from app.services.resources_monitor import monitor_answer
from app.services.service_status import MAX_SERVICES_LIMIT, ServiceStatus, service_status
from app.tools.base import app_context, register_tool
from app.tools.report_answers import shaped

EVIDENCE = 5  # get_cluster_status's default max_evidence (the small answer budget applies)


async def get_cluster_status(
    ctx: Context[AppContext],
    stuck_after_minutes: Annotated[int, Field(description="An instance whose task_state has not changed for this many minutes counts as stuck (1..10080).",
                                              json_schema_extra=schema_bounds(1, 10080))] = 60,
    max_evidence: Annotated[int, Field(description=f"At most this many ids/names listed per issue (1..{MAX_EVIDENCE}).",
                                       json_schema_extra=schema_bounds(1, MAX_EVIDENCE))] = EVIDENCE,
    threshold_crit: Annotated[float, Field(description="Percent at which a hypervisor counts as full (issue hypervisor_full).",
                                           json_schema_extra={"exclusiveMinimum": 0, "maximum": 1000})] = DEFAULT_CRIT,
    include_rules: Annotated[bool, Field(description="Also return the scoring rules table (score_rules).")] = False,
) -> ClusterStatus:
    """Whole-cloud health report from the snapshot: hypervisors (up/down, enabled/disabled, CPU/RAM/disk
    capacity vs use with allocation ratios), instances by status and availability zone, network and
    storage counts (FIPs associated or not, volumes by status, orphaned volumes, snapshots, volume types),
    Heat stacks, service health, a 0-100 `health_score` and `issues` with evidence (names/ids), most
    severe first (5 ids/names of evidence each by default). The text summary leads with the score, the
    totals and the top issues. Start here; drill down with get_service_status, monitor_resources or
    get_instances_by_status (status=ERROR shows each instance's Nova fault). Counts of kinds never synced
    are null (listed in `unknown_kinds`), not zero."""
    view = app_context(ctx)
    answer = await status_answer(view, stuck_after_minutes=stuck_after_minutes, max_evidence=max_evidence,
                                 threshold_crit=threshold_crit, include_rules=include_rules)
    return shaped(view, answer, {"max_evidence": max_evidence}, {"max_evidence": EVIDENCE})  # type: ignore[return-value]


async def get_service_status(
    ctx: Context[AppContext],
    only_problems: Annotated[bool, Field(description="Only services that are down or disabled.")] = False,
    service: Annotated[Literal["compute", "network", "block_storage"] | None,
                       Field(description="Only Nova services (compute), Neutron agents (network) or Cinder services (block_storage).")] = None,
    limit: Annotated[int, Field(description="Services per page (1..1000).",
                                json_schema_extra=schema_bounds(1, MAX_SERVICES_LIMIT))] = 30,
    offset: Annotated[int, Field(description="Skip this many services (down ones come first).",
                                 json_schema_extra=schema_bounds(0, MAX_OFFSET))] = 0,
    include_endpoints: Annotated[bool, Field(description="Also list the API endpoints of the Keystone catalog "
                                                         "(read live from the token).")] = False,
) -> ServiceStatus:
    """Every Nova service, Neutron agent and Cinder service with binary, host, zone, status
    (enabled/disabled), state (up/down), last heartbeat, disabled reason, forced_down and `why` (one line:
    why it is down or disabled), plus a `down` list (up to 50), `counts` per binary, and the API endpoints
    of the Keystone catalog with include_endpoints=true (`catalog_error` says why if it could not be read). The text summary lists
    what is down and why. 50 services per page (down ones first); only_problems=true for just what is
    down or disabled."""
    return await service_status(app_context(ctx), only_problems=only_problems, service=service, limit=limit,
                                offset=offset, include_endpoints=include_endpoints)


async def monitor_resources(
    ctx: Context[AppContext],
    threshold_warn: Annotated[float, Field(description="Percent at which a hypervisor is listed in over_warn.",
                                           json_schema_extra={"exclusiveMinimum": 0})] = MONITOR_DEFAULTS[0],
    threshold_crit: Annotated[float, Field(description="Percent at which a hypervisor is listed in over_crit "
                                                       "(>= threshold_warn).", json_schema_extra={"exclusiveMinimum": 0})] = MONITOR_DEFAULTS[1],
    limit: Annotated[int, Field(description="Hypervisors per page in `hypervisors` (1..200).",
                                json_schema_extra=schema_bounds(1, 200))] = MONITOR_DEFAULTS[2],
    offset: Annotated[int, Field(description="Skip this many hypervisors (ordered by hostname).",
                                 json_schema_extra=schema_bounds(0, MAX_OFFSET))] = 0,
) -> ResourceMonitor:
    """CPU/RAM/disk capacity and use per hypervisor and in total. Capacity comes from Placement
    ((total - reserved) * allocation_ratio, use from usages) or, on clouds before compute 2.88 without a
    matching resource provider, from the hypervisor's own fields (`capacity_source` says which; null means
    unknown, never guessed). Also: allocation ratios, RAM committed vs physical RAM, hypervisors over the
    warning/critical thresholds (brief rows, most loaded first, up to 10 each), the 10 most loaded
    hypervisors, the projects allocating the most vCPUs/RAM, and running_vms per hypervisor. The text
    summary leads with the totals and the hot spots; `hypervisors` pages the full per-hypervisor
    figures (5 per page by default)."""
    view = app_context(ctx)
    answer = await monitor_answer(view, threshold_warn=threshold_warn, threshold_crit=threshold_crit, limit=limit,
                                  offset=offset)
    return shaped(view, answer, {"limit": limit}, {"limit": MONITOR_DEFAULTS[2]})  # type: ignore[return-value]


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_cluster_status, title="Cloud health report")
    register_tool(mcp, get_service_status, title="Service and agent health", cached=True)
    register_tool(mcp, monitor_resources, title="Hypervisor capacity and usage")
