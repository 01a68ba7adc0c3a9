"""Neutron floating IPs. ``server_id`` comes from ``port_details`` (fip-port-details extension) when
the port belongs to a server; otherwise join port_id to ports.device_id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, String

from app.resources._common import cloud_indexes, ip_sort_key, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

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
)
