"""Instance, hypervisor and flavor read tools (answered from the snapshot)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import compute_catalog, instances
from app.services.compute_catalog import FlavorList, HypervisorList
from app.services.instance_search import SEARCH_FIELDS
from app.services.instance_models import InstanceList, InstanceResult, InstanceSearchResult
from app.services.instances import NOVA_STATUSES
from app.services.inventory import Limit, Offset
from app.tools.base import LIST_BOUNDS, app_context, register_tool
from app.tools.detail import Detail as RowDetail
from app.tools.detail import lean

Detail = Annotated[Literal["brief", "full"], Field(
    description="brief: id, name, status, task_state, host, flavor_name, ips and the Nova fault; full: also "
                "flavor size, image, AZ, project, user, key, vm/power state, timestamps and addresses with "
                "network and MAC (about 4x bigger per row).")]
# Enumerations published in the input schema; the services check them (case-insensitively) with a
# message listing the valid values.
SEARCH_IN_ENUM = {"enum": list(SEARCH_FIELDS)}
STATUS_ENUM = {"enum": list(NOVA_STATUSES)}


async def get_instance_details(
    ctx: Context[AppContext],
    instance_names: Annotated[str, Field(description="Comma-separated exact instance names."), LIST_BOUNDS] = "",
    instance_ids: Annotated[str, Field(description="Comma-separated instance IDs."), LIST_BOUNDS] = "",
    all_instances: Annotated[bool, Field(description="Page through every instance (when no names/IDs are given).")] = False,
    limit: Limit = 10,
    offset: Offset = 0,
    include_all: Annotated[bool, Field(description="Also include attached volumes (name, size) and security groups. "
                                                   "Addresses are always included.")] = False,
    detail: Detail = "full",
) -> InstanceList:
    """Detailed instances: flavor (name, vCPUs, RAM), image (id, name), host, hypervisor, AZ, addresses,
    project, user, key, task/vm/power state, timestamps and Nova's fault (message, code, time) when it
    has one; with include_all=true also attached volumes and security groups. Names match names exactly
    and IDs match IDs; requested names/IDs that match nothing are listed in `not_found` (an error with
    close matches if none match). Pass names and/or IDs, or all_instances=true to page through the whole
    fleet (ordered by name, then ID; 10 full rows per page by default, detail='brief' for lean rows).
    For partial matches use search_instances."""
    return await instances.instance_details(app_context(ctx), instance_names, instance_ids, all_instances,
                                            limit, offset, include_all, detail)


async def search_instances(
    ctx: Context[AppContext],
    search_term: Annotated[str, Field(description="Text to find (partial match, e.g. 'web', '10.0.3.', 'cmp-01').")],
    search_in: Annotated[str, Field(
        description="Field to search: name, status, host, flavor, image, availability_zone, ip, project "
                    "(id or name), or all.", json_schema_extra=SEARCH_IN_ENUM)] = "name",
    limit: Limit = 50,
    offset: Offset = 0,
    case_sensitive: Annotated[bool, Field(description="Match case exactly ('Web' then does not match 'web-1').")] = False,
    detail: Detail = "brief",
) -> InstanceSearchResult:
    """Find instances whose chosen field contains search_term (substring match in indexed SQL; fast at
    50,000 instances). search_in=ip matches any fixed or floating address; image and project match ids
    or names; host matches the compute host or hypervisor hostname; all matches any of them. Results
    are ordered by name then ID: brief rows (id, name, status, host, flavor, IPs, Nova fault) unless
    detail='full'; page with offset (next_offset). Use get_instance_details or get_instance_by_name for
    volumes and security groups."""
    return await instances.search(app_context(ctx), search_term, search_in, limit, offset, case_sensitive, detail)


async def get_instance_by_name(
    ctx: Context[AppContext],
    instance_name: Annotated[str, Field(description="Exact instance name (or its ID).")],
) -> InstanceResult:
    """One instance in full detail (including attached volumes and security groups). The name must
    match exactly; an ID is accepted too. If several instances share the name, the error lists their
    IDs, status and host: ask again with the ID. If none matches, the error suggests close names."""
    return await instances.by_name(app_context(ctx), instance_name)


async def get_instances_by_status(
    ctx: Context[AppContext],
    status: Annotated[str, Field(
        description="Nova status (case-insensitive): ACTIVE, SHUTOFF, ERROR, BUILD, PAUSED, SUSPENDED, "
                    "SHELVED_OFFLOADED, ...", json_schema_extra=STATUS_ENUM)],
    limit: Limit = 50,
    offset: Offset = 0,
    detail: Detail = "brief",
) -> InstanceList:
    """Instances in one Nova status, ordered by name then ID, with `total` for the whole status: brief
    rows (id, name, status, host, flavor, IPs and, for ERROR, Nova's fault message/code/time) unless
    detail='full'. An unknown status is an error listing the valid ones."""
    return await instances.by_status(app_context(ctx), status, limit, offset, detail)


@lean("id", "hypervisor_hostname", "host", "state", "status", "vcpus_used_pct", "memory_used_pct", "disk_used_pct",
      "instances")
async def get_hypervisor_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Field(description="Only hypervisors whose service is enabled/disabled, "
                                                    "or whose state is up/down.")] = None,
    detail: RowDetail = "brief",
) -> HypervisorList:
    """Hypervisors with state (up/down), status (enabled/disabled), type, vCPU/RAM/disk capacity and use
    (from Placement, or the hypervisor API before compute 2.88; null when unknown, never estimated) and
    the number of instances on each."""
    return await compute_catalog.hypervisor_list(app_context(ctx), limit, offset, status)


async def get_flavor_list(
    ctx: Context[AppContext],
    limit: Annotated[int, Field(description="Rows per page, 1..200.")] = 200,
    offset: Offset = 0,
) -> FlavorList:
    """Flavors (vCPUs, RAM, disk, ephemeral, swap, public/disabled) with how many live instances use
    each, ordered by size."""
    return await compute_catalog.flavor_list(app_context(ctx), limit, offset)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_instance_details, title="Instance details", cached=True)
    register_tool(mcp, search_instances, title="Search instances", cached=True)
    register_tool(mcp, get_instance_by_name, title="Instance by name", cached=True)
    register_tool(mcp, get_instances_by_status, title="Instances by status", cached=True)
    register_tool(mcp, get_hypervisor_list, title="Hypervisors with capacity", cached=True)
    register_tool(mcp, get_flavor_list, title="Flavors", cached=True)
