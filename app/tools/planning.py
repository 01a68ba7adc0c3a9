"""Capacity planning and where capacity lives: plan_capacity (can N instances of a flavor fit?),
availability zones and Placement resource providers. Fill levels per hypervisor stay in
monitor_resources (:mod:`app.tools.monitoring`)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_capacity as inv
from app.services import planning as svc
from app.tools.base import app_context, register_tool

Limit = Annotated[int, Field(description="Rows per page (1..200).", ge=1, le=200)]
Offset = Annotated[int, Field(description="Rows to skip; the next page is offset + returned.", ge=0)]


async def plan_capacity(
    ctx: Context[AppContext],
    flavor: Annotated[str, Field(description="Flavor name (m1.large) or ID.")],
    count: Annotated[int, Field(description="How many instances (1..1000000).", ge=1, le=1_000_000)] = 1,
    availability_zone: Annotated[str | None, Field(description="Only hosts in this availability zone (az1, nova).")] = None,
    hosts: Annotated[str | None, Field(description="Only these hosts: comma-separated exact host or hypervisor "
                                                   "names (e.g. the members of an aggregate).")] = None,
    boot_from_volume: Annotated[bool, Field(description="Instances boot from volumes: the flavor's root disk is not "
                                                        "taken from the host (ephemeral and swap still are).")] = False,
    limit: Annotated[int, Field(description="Hosts per page (1..50), most room first.", ge=1, le=50)] = 20,
    offset: Offset = 0,
) -> svc.CapacityPlan:
    """Can N instances of a flavor fit, where, and what blocks them: "can I fit 20 m1.large in az1?".
    Per eligible host, how many more instances fit and the first resource to run out (VCPU, MEMORY_MB,
    DISK_GB or an extra-spec resource such as VGPU), from Placement inventories (total, reserved,
    allocation ratio, max_unit, min/step) and usages; below compute 2.88 without Placement, from the
    hypervisor fields. Then the total, the verdict (yes / no / unknown), the resource that runs out
    first overall, hosts excluded because nova-compute is disabled (with the reason), down (last
    heartbeat) or in another zone, and hosts whose capacity is unknown (never guessed). It is an
    estimate: scheduler filters and weighers it does not model (affinity, NUMA, PCI, aggregate
    metadata, traits, quotas...) are listed in not_modelled. Host aggregates are not in the snapshot:
    pass their hosts in `hosts`."""
    return await svc.plan_capacity(app_context(ctx), flavor=flavor, count=count, availability_zone=availability_zone,
                                   hosts=hosts, boot_from_volume=boot_from_volume, limit=limit, offset=offset)


async def get_availability_zones(
    ctx: Context[AppContext],
    name: Annotated[str | None, Field(description="Only zones whose name contains this text.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> inv.ZoneList:
    """Nova availability zones: whether each is available, its hosts and their Nova services, hosts
    with a disabled or down service first. Answers "which zones exist?", "which hosts are in az1?".
    The 'internal' zone holds control services (scheduler, conductor)."""
    return await inv.availability_zone_list(app_context(ctx), limit=limit, offset=offset, name=name)


async def get_resource_providers(
    ctx: Context[AppContext],
    name: Annotated[str | None, Field(description="Only providers whose name contains this text.")] = None,
    resource_class: Annotated[str | None, Field(description="Only providers with inventory of this resource class "
                                                            "(VCPU, MEMORY_MB, DISK_GB, VGPU, CUSTOM_...).")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> inv.ProviderList:
    """Placement resource providers (compute nodes, nested GPU/NIC providers) with their raw inventory
    per resource class (total, reserved, allocation ratio, capacity, max/min unit, step size) and
    usage. For "does a flavor fit" use plan_capacity; for fill percentages per hypervisor,
    monitor_resources."""
    return await inv.resource_provider_list(app_context(ctx), limit=limit, offset=offset, name=name,
                                            resource_class=resource_class)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, plan_capacity, title="Plan capacity: can N instances of a flavor fit?", cached=True)
    register_tool(mcp, get_availability_zones, title="Availability zones and their hosts", cached=True)
    register_tool(mcp, get_resource_providers, title="Placement resource providers (inventory and usage)", cached=True)
