"""Neutron inventory views: networks (with subnets, port counts, routers), floating IPs (with the
port's instance), routers (with interfaces) and security groups (with rules). Each join is one
batched query per page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, select

from app.errors import NotFound
from app.resources.networks import table as networks
from app.resources.ports import router_interfaces
from app.resources.ports import table as ports
from app.resources.routers import table as routers
from app.resources.security_groups import rules
from app.resources.security_groups import table as security_groups
from app.resources.servers import table as servers
from app.resources.subnets import table as subnets
from app.services.inventory import (
    Page, Ref, View, grouped, id_or_name, list_view, live_keyed, raw_of, status_project_filters,
)
from app.services.models import clip
from app.services.query import close_matches, ordered
from app.services.scope import visible

if TYPE_CHECKING:
    from app.context import AppContext

PROJECT = Ref("project_id", "projects")


# ---------------------------------------------------------------------------------------------
# networks


class AllocationPool(BaseModel):
    start: str | None = Field(description="First address of the pool.")
    end: str | None = Field(description="Last address of the pool.")


class SubnetOut(BaseModel):
    id: str = Field(description="Subnet id.")
    name: str | None = Field(description="Subnet name.")
    cidr: str | None = Field(description="CIDR, e.g. 10.0.0.0/24.")
    ip_version: int | None = Field(description="4 or 6.")
    gateway_ip: str | None = Field(description="Gateway address (null: no gateway).")
    enable_dhcp: bool | None = Field(description="DHCP enabled.")
    allocation_pools: list[AllocationPool] = Field(description="Address ranges Neutron allocates from.")
    dns_nameservers: list[str] = Field(description="DNS servers handed out by DHCP.")


class AttachedRouter(BaseModel):
    id: str = Field(description="Router id.")
    name: str | None = Field(description="Router name (null if the router is not in the snapshot).")
    ip_addresses: list[str] = Field(description="The router's interface addresses on this network's subnets.")


def _network_extras(page: Page) -> list[dict[str, Any]]:
    ids, c = page.ids, page.cloud
    sub_rows = (page.conn.execute(
        select(subnets).where(live_keyed(subnets, c), page.mine(subnets), subnets.c.network_id.in_(ids))
        .order_by(*ordered(subnets.c.name, subnets.c.id)))).all()
    subs = grouped((s.network_id, SubnetOut(
        id=s.id, name=s.name, cidr=s.cidr, ip_version=s.ip_version, gateway_ip=s.gateway_ip,
        enable_dhcp=s.enable_dhcp,
        allocation_pools=[AllocationPool(start=p.get("start"), end=p.get("end"))
                          for p in raw_of(s).get("allocation_pools") or [] if isinstance(p, dict)],
        dns_nameservers=[str(d) for d in raw_of(s).get("dns_nameservers") or []],
    )) for s in sub_rows)
    port_counts = page.count_by(ports, "network_id", ids, "ports")
    gateway_counts = page.count_by(routers, "external_network_id", ids, "routers")
    ri, rt = router_interfaces, routers
    iface_rows = (page.conn.execute(
        select(ri.c.network_id, ri.c.router_id, rt.c.name, ri.c.ip_address)
        .select_from(ri.outerjoin(rt, and_(rt.c.cloud == ri.c.cloud, rt.c.id == ri.c.router_id,
                                           rt.c.deleted_at.is_(None))))
        .where(ri.c.cloud == c, ri.c.network_id.in_(ids), page.mine(rt))
        .order_by(*ordered(rt.c.name, ri.c.router_id, ri.c.ip_address)))).all()
    attached: dict[str, dict[str, AttachedRouter]] = {}
    for net_id, router_id, name, ip in iface_rows:
        entry = attached.setdefault(net_id, {}).setdefault(
            router_id, AttachedRouter(id=router_id, name=name, ip_addresses=[]))
        if ip and ip not in entry.ip_addresses:
            entry.ip_addresses.append(ip)
    return [{"subnets": subs.get(i, []), "port_count": port_counts.get(i),
             "routers": list(attached.get(i, {}).values()), "gateway_router_count": gateway_counts.get(i)}
            for i in ids]


NETWORKS = View(
    kind="networks", model_name="Network", items_field="networks",
    items_doc="This window of networks, ordered by name then id.",
    refs=(PROJECT,),
    extras={
        "subnets": (list[SubnetOut], Field(description="Subnets of the network, by name.")),
        "port_count": (int | None, Field(description="Live ports on the network (null if ports never synced).")),
        "routers": (list[AttachedRouter], Field(description="Routers with an interface on the network's subnets.")),
        "gateway_router_count": (int | None, Field(description="Routers using this (external) network as their "
                                                               "gateway; list them with get_routers.")),
    },
    enrich=_network_extras,
    uses=("subnets", "ports", "routers"),
)


async def network_details(app: AppContext, network_name: str, *, limit: int, offset: int, shared: bool | None,
                          external: bool | None, project: str | None) -> Any:
    where = []
    wanted = (network_name or "").strip()
    specific = bool(wanted) and wanted.lower() != "all"
    if specific:
        where.append((networks.c.name == wanted) | (networks.c.id == wanted))
    if project:
        where.append(id_or_name(networks.c.project_id, project.strip(), "projects", app.cloud_name))
    result = await list_view(app, NETWORKS, limit=limit, offset=offset, where=where,
                             filters={"is_shared": shared, "is_external": external})
    if specific and result.total == 0:
        stmt = select(networks.c.name, networks.c.id).where(visible(app, networks))
        names = await app.db.read(lambda conn: conn.execute(stmt).all())  # the not-found path only
        if any(wanted in row for row in names):
            return result  # it exists, the other filters exclude it
        raise NotFound(f"No network named (or with id) {clip(wanted)} in the snapshot; call get_network_details "
                       "with network_name='all' to list them.",
                       close_matches(wanted, [n for n, _ in names if n]))
    return result


# ---------------------------------------------------------------------------------------------
# floating IPs


def _fip_extras(page: Page) -> list[dict[str, Any]]:
    port_ids = page.values("port_id")
    port_rows = {p.id: p for p in (page.conn.execute(
        select(ports.c.id, ports.c.device_id, ports.c.device_owner, ports.c.name)
        .where(live_keyed(ports, page.cloud), page.mine(ports), ports.c.id.in_(port_ids)))).all()} if port_ids else {}

    def server_of(fip: Any) -> str | None:
        port = port_rows.get(fip.port_id)
        if port is not None and (port.device_owner or "").startswith("compute:"):
            return port.device_id
        return fip.server_id

    server_ids = sorted({s for s in map(server_of, page.rows) if s})
    names = dict((page.conn.execute(
        select(servers.c.id, servers.c.name).where(live_keyed(servers, page.cloud), page.mine(servers),
                                                   servers.c.id.in_(server_ids))
    )).all()) if server_ids else {}
    out = []
    for fip in page.rows:
        port = port_rows.get(fip.port_id)
        sid = server_of(fip)
        out.append({"server_id": sid, "server_name": names.get(sid) if sid else None,
                    "port_device_owner": port.device_owner if port is not None else None,
                    "associated": fip.port_id is not None})
    return out


FLOATING_IPS = View(
    kind="floating_ips", model_name="FloatingIp", items_field="floating_ips",
    items_doc="This window of floating IPs, ordered by address (numerically, IPv4 before IPv6) then id.",
    refs=(PROJECT, Ref("floating_network_id", "networks"), Ref("router_id", "routers")),
    extras={
        "associated": (bool, Field(description="Mapped to a port.")),
        "server_name": (str | None, Field(default=None, description="Name of the instance owning the port.")),
        "port_device_owner": (str | None, Field(default=None, description="device_owner of the associated port "
                                                                          "(compute:<az> for instances).")),
    },
    enrich=_fip_extras,
    order_by=("address_key", "id"),  # numeric address order (app.resources._common.ip_sort_key)
    exclude=("address_key",),
    name_column="floating_ip_address",
    uses=("ports", "servers"),
)


async def floating_ip_list(app: AppContext, *, limit: int, offset: int, status: str | None, associated: bool | None,
                           project: str | None, address: str | None) -> Any:
    f = FLOATING_IPS.table.c
    where = status_project_filters(app, FLOATING_IPS.table, status, project)
    if associated is not None:
        where.append(f.port_id.is_not(None) if associated else f.port_id.is_(None))
    return await list_view(app, FLOATING_IPS, limit=limit, offset=offset, where=where, name=address)


# ---------------------------------------------------------------------------------------------
# routers


class RouterInterface(BaseModel):
    port_id: str = Field(description="Interface port id.")
    subnet_id: str | None = Field(description="Subnet of the interface.")
    subnet_name: str | None = Field(description="Subnet name.")
    cidr: str | None = Field(description="Subnet CIDR.")
    network_id: str | None = Field(description="Network of the interface.")
    ip_address: str | None = Field(description="The router's address on the subnet.")
    interface_type: str | None = Field(description="Port device_owner (router_interface, ..._distributed, HA).")


def _router_extras(page: Page) -> list[dict[str, Any]]:
    ri, s = router_interfaces, subnets
    rows = (page.conn.execute(
        select(ri, s.c.name.label("subnet_name"), s.c.cidr)
        .select_from(ri.outerjoin(s, and_(s.c.cloud == ri.c.cloud, s.c.id == ri.c.subnet_id, s.c.deleted_at.is_(None))))
        .where(ri.c.cloud == page.cloud, ri.c.router_id.in_(page.ids))
        .order_by(*ordered(ri.c.router_id, s.c.cidr, ri.c.ip_address, ri.c.port_id)))).all()
    by_router = grouped((r.router_id, RouterInterface(
        port_id=r.port_id, subnet_id=r.subnet_id, subnet_name=r.subnet_name, cidr=r.cidr, network_id=r.network_id,
        ip_address=r.ip_address, interface_type=r.interface_type)) for r in rows)
    return [{"interfaces": by_router.get(i, [])} for i in page.ids]


ROUTERS = View(
    kind="routers", model_name="Router", items_field="routers",
    items_doc="This window of routers, ordered by name then id.",
    refs=(PROJECT, Ref("external_network_id", "networks")),
    extras={"interfaces": (list[RouterInterface], Field(description="Subnet interfaces (from the router's ports)."))},
    enrich=_router_extras,
    uses=("ports", "subnets"),
)


async def router_list(app: AppContext, *, limit: int, offset: int, status: str | None, project: str | None,
                      name: str | None) -> Any:
    where = status_project_filters(app, ROUTERS.table, status, project)
    return await list_view(app, ROUTERS, limit=limit, offset=offset, where=where, name=name)


# ---------------------------------------------------------------------------------------------
# security groups


class SecurityGroupRule(BaseModel):
    id: str | None = Field(description="Rule id.")
    direction: str | None = Field(description="ingress or egress.")
    ethertype: str | None = Field(description="IPv4 or IPv6.")
    protocol: str | None = Field(description="tcp, udp, icmp, a number, or null for any protocol.")
    port_range_min: int | None = Field(description="First port (ICMP: type).")
    port_range_max: int | None = Field(description="Last port (ICMP: code).")
    port_range: str = Field(description="Readable range: 'any', '22' or '8000-8080'.")
    remote_ip_prefix: str | None = Field(description="Allowed CIDR (null with no remote group: any address).")
    remote_group_id: str | None = Field(description="Allowed peer security group.")
    remote_group_name: str | None = Field(description="Name of the peer group.")
    description: str | None = Field(description="Rule description.")


def _port_range(lo: int | None, hi: int | None) -> str:
    if lo is None and hi is None:
        return "any"
    if lo == hi or hi is None:
        return str(lo)
    return f"{lo if lo is not None else 'any'}-{hi}"


def _sg_extras(page: Page) -> list[dict[str, Any]]:
    rg = security_groups.alias("remote_group")
    rows = (page.conn.execute(
        select(rules, rg.c.name.label("remote_group_name"))
        .select_from(rules.outerjoin(rg, and_(rg.c.cloud == rules.c.cloud, rg.c.id == rules.c.remote_group_id,
                                              rg.c.deleted_at.is_(None))))
        .where(rules.c.cloud == page.cloud, rules.c.security_group_id.in_(page.ids))
        .order_by(*ordered(rules.c.security_group_id, rules.c.direction, rules.c.ethertype, rules.c.protocol,
                           rules.c.port_range_min, rules.c.rule_id)))).all()
    by_group = grouped((r.security_group_id, SecurityGroupRule(
        id=r.rule_id, direction=r.direction, ethertype=r.ethertype, protocol=r.protocol,
        port_range_min=r.port_range_min, port_range_max=r.port_range_max,
        port_range=_port_range(r.port_range_min, r.port_range_max), remote_ip_prefix=r.remote_ip_prefix,
        remote_group_id=r.remote_group_id, remote_group_name=r.remote_group_name, description=r.description,
    )) for r in rows)
    return [{"rules": by_group.get(i, [])} for i in page.ids]


SECURITY_GROUPS = View(
    kind="security_groups", model_name="SecurityGroup", items_field="security_groups",
    items_doc="This window of security groups, ordered by name then id.",
    refs=(PROJECT,),
    extras={"rules": (list[SecurityGroupRule], Field(description="Rules, by direction, ethertype, protocol, port."))},
    enrich=_sg_extras,
)


async def security_group_list(app: AppContext, *, limit: int, offset: int, project: str | None, name: str | None) -> Any:
    where = []
    if project:
        where.append(id_or_name(SECURITY_GROUPS.table.c.project_id, project.strip(), "projects", app.cloud_name))
    return await list_view(app, SECURITY_GROUPS, limit=limit, offset=offset, where=where, name=name)
