"""Neutron read tools for the kinds the original server never listed: ports, subnets and agents
(answered from the snapshot). Networks, routers, floating IPs and security groups are in
:mod:`app.tools.network`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_more as svc
from app.tools.base import app_context, register_tool
from app.tools.detail import Detail, lean

Limit = Annotated[int, Field(description="Rows per page (1..200).", ge=1, le=200)]
Offset = Annotated[int, Field(description="Rows to skip; the next page is offset + returned.", ge=0)]
Project = Annotated[str | None, Field(description="Only this project (exact name or ID).")]


@lean("id", "name", "status", "network_name", "fixed_ips", "mac_address", "device_owner", "server_name", "host",
      "vif_type")
async def get_port_list(
    ctx: Context[AppContext],
    network: Annotated[str | None, Field(description="Only ports on this network (exact name or ID).")] = None,
    device: Annotated[str | None, Field(description="Only ports of this device: an instance (exact name or ID), "
                                                    "a router ID, ...")] = None,
    device_owner: Annotated[str | None, Field(description="Only this device_owner (network:dhcp, "
                                                          "network:router_interface, compute:nova); ending "
                                                          "with ':' matches a prefix (compute:).")] = None,
    status: Annotated[Literal["ACTIVE", "DOWN", "BUILD", "ERROR"] | None,
                      Field(description="Only ports in this status.")] = None,
    fixed_ip: Annotated[str | None, Field(description="Only ports with this fixed IP (exact), or whose fixed IP "
                                                      "starts with this text (10.0.3.).")] = None,
    host: Annotated[str | None, Field(description="Only ports bound to this host (binding:host_id, exact).")] = None,
    project: Project = None,
    name: Annotated[str | None, Field(description="Only ports whose name, ID, MAC or IP contains this text.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    detail: Detail = "brief",
) -> svc.PortList:
    """Neutron ports: who owns an IP or MAC, which ports an instance or router has, ports that are
    DOWN or failed to bind (vif_type binding_failed). Each port: status, network (name), fixed IPs,
    MAC, device owner and id (instance name for compute ports), bound host, project. Starts with a
    summary (matches, status mix, next offset). For networks with subnets use get_network_details;
    floating IPs: get_floating_ips."""
    return await svc.port_list(app_context(ctx), limit=limit, offset=offset, network=network, device=device,
                               device_owner=device_owner, status=status, fixed_ip=fixed_ip, host=host,
                               project=project, name=name)


async def get_subnet_list(
    ctx: Context[AppContext],
    network: Annotated[str | None, Field(description="Only subnets of this network (exact name or ID).")] = None,
    cidr: Annotated[str | None, Field(description="Only subnets whose CIDR contains this text (10.0.).")] = None,
    ip_version: Annotated[Literal[4, 6] | None, Field(description="Only IPv4 (4) or IPv6 (6) subnets.")] = None,
    project: Project = None,
    name: Annotated[str | None, Field(description="Only subnets whose name contains this text.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> svc.SubnetList:
    """Neutron subnets across all networks: CIDR, gateway, DHCP, allocation pools, DNS servers, the
    network's name and how many ports have an address on each (to spot a full subnet). Use it to find
    which subnet holds a CIDR or which subnets a project owns."""
    return await svc.subnet_list(app_context(ctx), limit=limit, offset=offset, network=network, cidr=cidr,
                                 ip_version=ip_version, project=project, name=name)


async def get_network_agents(
    ctx: Context[AppContext],
    alive: Annotated[bool | None, Field(description="false: only agents that are down (no recent heartbeat); "
                                                    "true: only live ones.")] = None,
    admin_state_up: Annotated[bool | None, Field(description="false: only agents disabled by an operator.")] = None,
    agent_type: Annotated[str | None, Field(description="Only this agent type or binary (L3 agent, DHCP agent, "
                                                        "neutron-openvswitch-agent, OVN ...; substring).")] = None,
    host: Annotated[str | None, Field(description="Only agents on hosts whose name contains this text.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> svc.AgentList:
    """Neutron agents (L3, DHCP, metadata, Open vSwitch / OVN) with liveness, admin state and last
    heartbeat; dead agents first. Answers "which network agents are down?" (alive=false) and "is the
    DHCP agent on net-3 alive?". get_service_status gives the same with compute and volume services."""
    return await svc.network_agent_list(app_context(ctx), limit=limit, offset=offset, alive=alive,
                                        admin_state_up=admin_state_up, agent_type=agent_type, host=host)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_port_list, title="Ports (by network, device, IP, status)", cached=True)
    register_tool(mcp, get_subnet_list, title="Subnets", cached=True)
    register_tool(mcp, get_network_agents, title="Neutron agents and their liveness", cached=True)
