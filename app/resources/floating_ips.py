"""Neutron floating IPs. ``server_id`` comes from ``port_details`` (fip-port-details extension) when
the port belongs to a server; otherwise join port_id to ports.device_id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, String, and_, exists, func, select, union

from app.resources._common import cloud_indexes, ip_sort_key, text, ts
from app.resources.base import Followup, Listing, ResourceSpec, snapshot_table
from app.resources.ports import table as ports
from app.resources.servers import addresses as server_addresses
from app.resources.servers import table as servers

FILTERABLE = ("floating_ip_address", "floating_network_id", "router_id", "port_id", "fixed_ip_address",
              "status", "project_id", "server_id")

table = snapshot_table(
    "floating_ips",
    Column("floating_ip_address", String(64), doc="The public address."),
    Column("floating_network_id", String(64), doc="External network it comes from."),
    Column("router_id", String(64), doc="Router doing the NAT (NULL when unassociated)."),
    Column("port_id", String(64), doc="Associated port (NULL when unassociated)."),
    Column("fixed_ip_address", String(64), doc="Fixed IP it maps to."),
    Column("server_id", String(64), doc="Server owning the associated port (port_details.device_id for compute:* owners)."),
    Column("status", String(16), doc="ACTIVE, DOWN, ERROR."),
    Column("description", String(255), doc="Description."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    Column("address_key", String(40), doc="floating_ip_address as a sortable key: IP version, then the address as "
                                          "32 hex digits (numeric order, IPv4 before IPv6). Listings sort on it."),
    # address_key + id: get_floating_ips pages (numeric address order) are one index range walk
    *cloud_indexes("floating_ips", *FILTERABLE, "address_key", then={"address_key": ("id",)}),
    doc="Neutron floating IPs.",
)


def _server_id(raw: dict[str, Any]) -> str | None:
    details = raw.get("port_details") or {}
    if str(details.get("device_owner") or "").startswith("compute:"):
        return details.get("device_id") or None
    return None


SPEC = ResourceSpec(
    kind="floating_ips",
    table=table,
    description="Neutron floating IPs",
    listing=Listing(service="network", path="/floatingips", collection="floatingips"),
    get_path="/floatingips/{id}",
    get_key="floatingip",
    columns={
        "floating_ip_address": "floating_ip_address",
        "floating_network_id": "floating_network_id",
        "router_id": "router_id",
        "port_id": "port_id",
        "fixed_ip_address": "fixed_ip_address",
        "server_id": _server_id,
        "status": "status",
        "description": lambda r: r.get("description") or None,
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
        "address_key": lambda r: ip_sort_key(r.get("floating_ip_address")),
    },
    searchable=("floating_ip_address", "fixed_ip_address"),
    filterable=FILTERABLE,
    poll_interval=60.0,
    followups=(Followup("servers", lambda cloud: servers_out_of_step(cloud)),),
)


def servers_out_of_step(cloud: str) -> Any:
    """Live servers whose stored addresses disagree with the floating IPs: a floating IP mapped to the
    server that its addresses lack, or a floating address it shows that no floating IP maps to it.
    Nova updates addresses from its network cache without touching ``updated``, so a changes-since
    poll never reports them; a targeted refresh does."""
    f, a, s, p = table, server_addresses, servers, ports
    owner = func.coalesce(f.c.server_id, select(p.c.device_id).where(
        p.c.cloud == f.c.cloud, p.c.id == f.c.port_id, p.c.deleted_at.is_(None),
        p.c.device_owner.like("compute:%")).correlate_except(p).scalar_subquery())
    live_server = exists().where(s.c.cloud == cloud, s.c.id == owner, s.c.deleted_at.is_(None))
    missing = select(owner.label("id")).where(
        f.c.cloud == cloud, f.c.deleted_at.is_(None), f.c.port_id.is_not(None), live_server,
        ~exists().where(a.c.cloud == cloud, a.c.server_id == owner, a.c.ip_address == f.c.floating_ip_address))
    stale = select(a.c.server_id.label("id")).where(
        a.c.cloud == cloud, a.c.ip_type == "floating",
        exists().where(s.c.cloud == cloud, s.c.id == a.c.server_id, s.c.deleted_at.is_(None)),
        ~exists().where(and_(f.c.cloud == cloud, f.c.deleted_at.is_(None),
                             f.c.floating_ip_address == a.c.ip_address, owner == a.c.server_id)))
    return union(missing, stale)
