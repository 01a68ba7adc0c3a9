"""Neutron subnets."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import boolean, cloud_indexes, integer, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "network_id", "cidr", "ip_version", "project_id")

table = snapshot_table(
    "subnets",
    Column("name", String(255), doc="Subnet name."),
    Column("network_id", String(64), doc="Parent network (joins networks.id)."),
    Column("cidr", String(64), doc="CIDR, e.g. 10.0.0.0/24."),
    Column("ip_version", Integer, doc="4 or 6."),
    Column("gateway_ip", String(64), doc="Gateway address (NULL when none)."),
    Column("enable_dhcp", Boolean, doc="DHCP enabled."),
    Column("subnetpool_id", String(64), doc="Subnet pool it was allocated from."),
    Column("ipv6_address_mode", String(32), doc="slaac, dhcpv6-stateful, dhcpv6-stateless."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("subnets", *FILTERABLE),
    doc="Neutron subnets. Allocation pools, DNS servers and host routes in raw.",
)

SPEC = ResourceSpec(
    kind="subnets",
    table=table,
    description="Neutron subnets",
    listing=Listing(service="network", path="/subnets", collection="subnets"),
    get_path="/subnets/{id}",
    get_key="subnet",
    columns={
        "name": "name",
        "network_id": "network_id",
        "cidr": "cidr",
        "ip_version": integer("ip_version"),
        "gateway_ip": "gateway_ip",
        "enable_dhcp": boolean("enable_dhcp"),
        "subnetpool_id": "subnetpool_id",
        "ipv6_address_mode": "ipv6_address_mode",
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name", "cidr"),
    filterable=FILTERABLE,
    poll_interval=120.0,
)
