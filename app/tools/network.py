"""Neutron read tools: networks, floating IPs, routers, security groups (answered from the snapshot)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_network as svc
from app.services.inventory import Limit, NameFilter, Offset, ProjectFilter
from app.tools.base import app_context, register_tool
from app.tools.detail import Detail, lean

NetworkList = svc.NETWORKS.list_model
FloatingIpList = svc.FLOATING_IPS.list_model
RouterList = svc.ROUTERS.list_model
SecurityGroupList = svc.SECURITY_GROUPS.list_model


@lean("id", "name", "status", "is_shared", "is_external", "project_name", "subnets", "port_count")
async def get_network_details(
    ctx: Context[AppContext],
    network_name: Annotated[str, Field(description="'all' for every network, or one network's exact name or ID.")] = "all",
    limit: Limit = 50,
    offset: Offset = 0,
    shared: Annotated[bool | None, Field(description="Only shared (true) or unshared (false) networks.")] = None,
    external: Annotated[bool | None, Field(description="Only external (true, floating IP pools) or internal networks.")] = None,
    project: ProjectFilter = None,
    detail: Detail = "brief",
) -> NetworkList:  # type: ignore[valid-type]
    """Networks with their subnets (CIDR, gateway, DHCP, allocation pools, DNS), live port count,
    routers with an interface on its subnets, how many routers use it as gateway, shared/external
    flags, provider details, MTU and project. network_name='all' pages through every network (ordered
    by name, then ID); a name or ID returns that network, and an unknown one is an error suggesting
    close names."""
    return await svc.network_details(app_context(ctx), network_name, limit=limit, offset=offset, shared=shared,
                                     external=external, project=project)


async def get_floating_ips(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Field(description="Only this status: ACTIVE, DOWN, ERROR (case-insensitive).")] = None,
    associated: Annotated[bool | None, Field(description="true: only mapped to a port; false: only unassociated (free).")] = None,
    project: ProjectFilter = None,
    address: Annotated[str | None, Field(description="Only floating IPs whose address contains this text.")] = None,
) -> FloatingIpList:  # type: ignore[valid-type]
    """Floating IPs ordered by address: status, the port it maps to and its fixed IP, the instance
    behind that port (server id and name), the external network and router names, and the project.
    Use associated=false to find allocated but unused addresses."""
    return await svc.floating_ip_list(app_context(ctx), limit=limit, offset=offset, status=status,
                                      associated=associated, project=project, address=address)


async def get_routers(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Field(description="Only this status: ACTIVE, DOWN, ERROR (case-insensitive).")] = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
) -> RouterList:  # type: ignore[valid-type]
    """Routers ordered by name: external gateway (network name and IP, SNAT), interfaces (subnet
    name and CIDR, the router's IP on it), status, admin state, HA and distributed (DVR) flags, project."""
    return await svc.router_list(app_context(ctx), limit=limit, offset=offset, status=status, project=project,
                                 name=name)


async def get_security_groups(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    project: ProjectFilter = None,
    name: NameFilter = None,
) -> SecurityGroupList:  # type: ignore[valid-type]
    """Security groups ordered by name, each with its rules: direction, ethertype, protocol, port
    range, remote prefix or remote group (with its name). Filter by project and name to audit one
    tenant's exposure (e.g. ingress rules with remote_ip_prefix 0.0.0.0/0)."""
    return await svc.security_group_list(app_context(ctx), limit=limit, offset=offset, project=project, name=name)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_network_details, title="Networks with subnets and routers", cached=True)
    register_tool(mcp, get_floating_ips, title="Floating IPs and their instances", cached=True)
    register_tool(mcp, get_routers, title="Routers with gateways and interfaces", cached=True)
    register_tool(mcp, get_security_groups, title="Security groups and rules", cached=True)
