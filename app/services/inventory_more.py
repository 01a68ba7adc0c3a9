"""Every synced kind answers: lean lists of ports, subnets and Neutron agents (availability zones and
Placement resource providers: app/services/inventory_capacity.py; ``get_resource``, any stored object:
app/services/stored_objects.py).

Each list answer leads with a ``summary`` (how many match, the status mix, how to page), then a page
of lean items (name, id, status and the facts that explain a problem: a port's ``binding_failed``, an
agent's last heartbeat), paging fields and the ``snapshot`` freshness block.
Filtering, ordering and paging happen in SQL on the kinds' indexed columns.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select, true

from app.resources.network_agents import table as agents
from app.resources.networks import table as networks
from app.resources.ports import fixed_ips
from app.resources.ports import table as ports
from app.resources.servers import table as servers
from app.resources.subnets import table as subnets
from app.services.inventory import eq_ci, id_or_name, live_keyed, raw_of
from app.services.kept import kept
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import check_window, contains, count_mix, like_escape, live, ordered, paging_summary
from app.services.scope import ProjectScope, condition, restrict

if TYPE_CHECKING:
    from app.context import AppContext
    from app.db.engine import Database

# ---------------------------------------------------------------------------------------------
# shared


def list_page(conn: Connection, cloud: str, table: Table, conds: Sequence[ColumnElement[bool]], order: Sequence[Any],
              limit: int, offset: int, group: str | None = None,
              whole: Database | None = None) -> tuple[int, list[Any], dict[str, int]]:
    """Total, one window of rows and (``group``) the count of matches per value of that column, inside
    a list's one read (:meth:`AppContext.read`; the window is checked before the read). With
    ``group`` the total is the counts' sum (one fleet-wide statement, not two). ``whole``: the
    caller's ``conds`` select every live row its caller may see and that caller is unrestricted, so
    the counts depend on the table's kind alone and are kept per its data version
    (:mod:`app.services.kept`) in that database's store."""
    where = and_(live(table, cloud), *conds)
    rows = conn.execute(select(table).where(where).order_by(*ordered(*order)).limit(limit).offset(offset)).all()
    if group is None:
        return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()), list(rows), {}
    col = table.c[group]

    def count() -> dict[str, int]:
        return {str(k): int(n) for k, n in conn.execute(
            select(col, func.count()).where(where).group_by(col).order_by(func.count().desc())).all()}

    counts = count() if whole is None else kept(conn, whole, cloud, [table.name], (table.name, "count by", group),
                                                count)
    return sum(counts.values()), list(rows), counts


def names_by_id(conn: Connection, table: Table, cloud: str, ids: Sequence[str], label: str = "name") -> dict[str, Any]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return dict(conn.execute(select(table.c.id, table.c[label]).where(
        live_keyed(table, cloud), table.c.id.in_(ids))).all())


# ---------------------------------------------------------------------------------------------
# ports


class FixedIp(BaseModel):
    ip_address: str | None
    subnet_id: str | None


class PortItem(BaseModel):
    id: str
    name: str | None
    status: str | None = Field(description="ACTIVE, DOWN, BUILD.")
    admin_state_up: bool | None
    network_id: str | None
    network_name: str | None
    fixed_ips: list[FixedIp]
    mac_address: str | None
    device_owner: str | None = Field(description="compute:<az> (an instance), network:router_interface, network:dhcp, ...")
    device_id: str | None = Field(description="The owning device: instance, router, DHCP agent ...")
    server_name: str | None = Field(description="Name of the instance behind device_id, when it is one.")
    host: str | None = Field(description="binding:host_id.")
    vif_type: str | None = Field(description="binding:vif_type; binding_failed means Neutron could not bind the port "
                                             "on its host (agent down, wrong physnet).")
    project_id: str | None


class PortList(BaseModel):
    summary: str = Field(description="How many ports match, their status mix, how to page.")
    page: PageInfo
    status_counts: dict[str, int] = Field(description="Matching ports per status (whole match set).")
    ports: list[PortItem] = Field(description="This window of ports, by network, then name, then id.")
    snapshot: SnapshotInfo


def _ip_condition(value: str) -> ColumnElement[bool]:
    v = value.strip()
    try:
        ipaddress.ip_address(v)
        cond = fixed_ips.c.ip_address == v
    except ValueError:
        cond = fixed_ips.c.ip_address.like(like_escape(v) + "%", escape="\\")
    return cond


async def port_list(app: AppContext, *, limit: int, offset: int, network: str | None, device: str | None,
                    device_owner: str | None, status: str | None, fixed_ip: str | None, host: str | None,
                    project: str | None, name: str | None) -> PortList:
    cloud = app.cloud_name
    p = ports.c
    conds: list[ColumnElement[bool]] = []
    if network:
        conds.append(id_or_name(p.network_id, network.strip(), "networks", cloud))
    if device:
        conds.append(id_or_name(p.device_id, device.strip(), "servers", cloud))
    if device_owner:
        owner = device_owner.strip()
        conds.append(p.device_owner.like(like_escape(owner) + "%", escape="\\") if owner.endswith(":")
                     else p.device_owner == owner)
    if status:
        conds.append(eq_ci(p.status, status))
    if host:
        conds.append(p.host == host.strip())
    if project:
        conds.append(id_or_name(p.project_id, project.strip(), "projects", cloud))
    if fixed_ip:
        conds.append(p.id.in_(select(fixed_ips.c.port_id).where(fixed_ips.c.cloud == cloud,
                                                                _ip_condition(fixed_ip))))
    if name and name.strip():
        conds.append(contains(p.search_text, name.strip().lower(), False))
    whole = None if conds or app.scope.restricted else app.db  # every port: counts kept per ports version
    conds.append(restrict(app, ports))
    check_window(limit, offset)
    return await app.read(["ports", "networks", "servers"], _read_ports, cloud, conds, limit, offset, whole)


def _read_ports(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
                offset: int, whole: Database | None) -> PortList:
    p = ports.c
    total, rows, counts = list_page(conn, cloud, ports, conds, (p.network_id, p.name, p.id), limit, offset, "status",
                                    whole)
    ips: dict[str, list[FixedIp]] = {}
    if rows:
        for r in conn.execute(select(fixed_ips).where(
                fixed_ips.c.cloud == cloud, fixed_ips.c.port_id.in_([r.id for r in rows]))).all():
            ips.setdefault(r.port_id, []).append(FixedIp(ip_address=r.ip_address, subnet_id=r.subnet_id))
    net_names = names_by_id(conn, networks, cloud, [r.network_id for r in rows])
    server_names = names_by_id(conn, servers, cloud, [r.device_id for r in rows
                                                 if (r.device_owner or "").startswith("compute:")])
    items = [PortItem(id=r.id, name=r.name, status=r.status, admin_state_up=r.admin_state_up, network_id=r.network_id,
                      network_name=net_names.get(r.network_id), fixed_ips=ips.get(r.id, []), mac_address=r.mac_address,
                      device_owner=r.device_owner, device_id=r.device_id, server_name=server_names.get(r.device_id),
                      host=r.host, vif_type=r.vif_type, project_id=r.project_id) for r in rows]
    summary = paging_summary(total, len(items), offset, "ports") + count_mix(counts, "Status")
    failed = sum(1 for i in items if i.vif_type == "binding_failed")
    if failed:
        summary += f" {failed} port(s) on this page have binding_failed (see host and vif_type)."
    return PortList(summary=summary, page=PageInfo.of(total, len(items), offset, limit), status_counts=counts,
                    ports=items, snapshot=snap)


# ---------------------------------------------------------------------------------------------
# subnets


class SubnetItem(BaseModel):
    id: str
    name: str | None
    cidr: str | None
    ip_version: int | None
    network_id: str | None
    network_name: str | None
    gateway_ip: str | None
    enable_dhcp: bool | None
    allocation_pools: list[str] = Field(description="start-end address ranges Neutron allocates from.")
    dns_nameservers: list[str]
    ports: int | None = Field(description="Live ports with an address on this subnet (null if ports never synced).")
    project_id: str | None


class SubnetList(BaseModel):
    summary: str
    page: PageInfo
    subnets: list[SubnetItem] = Field(description="This window of subnets, by name then id.")
    snapshot: SnapshotInfo


async def subnet_list(app: AppContext, *, limit: int, offset: int, network: str | None, cidr: str | None,
                      ip_version: int | None, project: str | None, name: str | None) -> SubnetList:
    cloud = app.cloud_name
    s = subnets.c
    conds: list[ColumnElement[bool]] = []
    if network:
        conds.append(id_or_name(s.network_id, network.strip(), "networks", cloud))
    if cidr:
        conds.append(contains(s.cidr, cidr.strip(), False))
    if ip_version is not None:
        conds.append(s.ip_version == ip_version)
    if project:
        conds.append(id_or_name(s.project_id, project.strip(), "projects", cloud))
    if name and name.strip():
        conds.append(contains(s.name, name.strip(), False))
    conds.append(restrict(app, subnets))
    check_window(limit, offset)
    return await app.read(["subnets", "networks", "ports"], _read_subnets, cloud, conds, limit, offset, app.scope)


def _read_subnets(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
                  offset: int, scope: ProjectScope) -> SubnetList:
    total, rows, _ = list_page(conn, cloud, subnets, conds, (subnets.c.name, subnets.c.id), limit, offset)
    net_names = names_by_id(conn, networks, cloud, [r.network_id for r in rows])
    port_counts: dict[str, int] = {}
    if rows and "ports" not in snap.missing:
        port_counts = {k: int(n) for k, n in conn.execute(
            select(fixed_ips.c.subnet_id, func.count(func.distinct(fixed_ips.c.port_id)))
            .where(fixed_ips.c.cloud == cloud, fixed_ips.c.subnet_id.in_([r.id for r in rows]),
                   # a project-restricted caller counts its own ports (a shared subnet holds others')
                   fixed_ips.c.port_id.in_(select(ports.c.id).where(live(ports, cloud), condition(scope, ports, cloud)))
                   if scope.restricted else true())
            .group_by(fixed_ips.c.subnet_id)).all()}
    items = []
    for r in rows:
        raw = raw_of(r)
        pools = [f"{p.get('start')}-{p.get('end')}" for p in raw.get("allocation_pools") or [] if isinstance(p, dict)]
        items.append(SubnetItem(
            id=r.id, name=r.name, cidr=r.cidr, ip_version=r.ip_version, network_id=r.network_id,
            network_name=net_names.get(r.network_id), gateway_ip=r.gateway_ip, enable_dhcp=r.enable_dhcp,
            allocation_pools=pools, dns_nameservers=[str(d) for d in raw.get("dns_nameservers") or []],
            ports=None if "ports" in snap.missing else port_counts.get(r.id, 0), project_id=r.project_id))
    return SubnetList(summary=paging_summary(total, len(items), offset, "subnets"),
                      page=PageInfo.of(total, len(items), offset, limit), subnets=items, snapshot=snap)


# ---------------------------------------------------------------------------------------------
# network agents


class AgentItem(BaseModel):
    id: str
    agent_type: str | None
    binary: str | None
    host: str | None
    availability_zone: str | None
    alive: bool | None = Field(description="Heartbeat recent; false = the agent is down.")
    admin_state_up: bool | None = Field(description="false = disabled by an operator.")
    heartbeat_at: datetime | None = Field(description="Last heartbeat (UTC).")


class AgentList(BaseModel):
    summary: str
    page: PageInfo
    down: int = Field(description="Matching agents that are not alive.")
    disabled: int = Field(description="Matching agents with admin_state_up false.")
    agents: list[AgentItem] = Field(description="This window: dead agents first, then by host and binary.")
    snapshot: SnapshotInfo


async def network_agent_list(app: AppContext, *, limit: int, offset: int, alive: bool | None, admin_state_up: bool | None,
                             agent_type: str | None, host: str | None) -> AgentList:
    a = agents.c
    conds: list[ColumnElement[bool]] = []
    if alive is not None:
        conds.append(a.alive.is_(alive))
    if admin_state_up is not None:
        conds.append(a.admin_state_up.is_(admin_state_up))
    if agent_type:
        conds.append(or_(a.agent_type == agent_type.strip(), a.binary == agent_type.strip(),
                         contains(a.agent_type, agent_type.strip(), False)))
    if host:
        conds.append(contains(a.host, host.strip(), False))
    check_window(limit, offset)
    return await app.read(["network_agents"], _read_agents, app.cloud_name, conds, limit, offset)


def _read_agents(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
                 offset: int) -> AgentList:
    a = agents.c
    total, rows, _ = list_page(conn, cloud, agents, conds, (a.alive, a.host, a.binary, a.id), limit, offset)
    where = and_(live(agents, cloud), *conds)
    down = conn.execute(select(func.count()).where(where, a.alive.is_(False))).scalar_one()
    disabled = conn.execute(select(func.count()).where(where, a.admin_state_up.is_(False))).scalar_one()
    items = [AgentItem(id=r.id, agent_type=r.agent_type, binary=r.binary, host=r.host,
                       availability_zone=r.availability_zone, alive=r.alive, admin_state_up=r.admin_state_up,
                       heartbeat_at=r.heartbeat_at) for r in rows]
    summary = paging_summary(total, len(items), offset, "Neutron agents") + f" {down} down, {disabled} disabled."
    dead = [f"{i.binary} on {i.host}" for i in items if i.alive is False][:5]
    if dead:
        summary += " Down: " + ", ".join(dead) + "."
    return AgentList(summary=summary, page=PageInfo.of(total, len(items), offset, limit), down=int(down),
                     disabled=int(disabled), agents=items, snapshot=snap)


__all__ = ["names_by_id", "list_page", "network_agent_list", "port_list", "subnet_list"]
