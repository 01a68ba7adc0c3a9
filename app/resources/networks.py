"""Neutron networks. Neutron paths are relative to the network adapter's endpoint, to which
openstacksdk always appends ``/v2.0`` (so ``/networks``, not ``/v2.0/networks``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import boolean, cloud_indexes, integer, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "status", "project_id", "is_shared", "is_external", "network_type", "physical_network")

table = snapshot_table(
    "networks",
    Column("name", String(255), doc="Network name (also the key of servers' addresses)."),
    Column("status", String(16), doc="ACTIVE, DOWN, BUILD, ERROR."),
    Column("admin_state_up", Boolean, doc="Administrative state."),
    Column("is_shared", Boolean, doc="shared: usable by every project."),
    Column("is_external", Boolean, doc="router:external: floating IPs come from here."),
    Column("network_type", String(32), doc="provider:network_type (vxlan, vlan, flat, geneve; admin only)."),
    Column("physical_network", String(255), doc="provider:physical_network (admin only)."),
    Column("segmentation_id", Integer, doc="provider:segmentation_id: VLAN/VNI (admin only)."),
    Column("mtu", Integer, doc="MTU."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    # name + id: the list order (name, id) is the index order, so a page is an index walk (migration 0016)
    *cloud_indexes("networks", *FILTERABLE, then={"name": ("id",)}),
    doc="Neutron networks. Subnet ids in raw.subnets.",
)

SPEC = ResourceSpec(
    kind="networks",
    table=table,
    description="Neutron networks",
    listing=Listing(service="network", path="/networks", collection="networks"),
    get_path="/networks/{id}",
    get_key="network",
    columns={
        "name": "name",
        "status": "status",
        "admin_state_up": boolean("admin_state_up"),
        "is_shared": boolean("shared"),
        "is_external": boolean("router:external"),
        "network_type": "provider:network_type",
        "physical_network": "provider:physical_network",
        "segmentation_id": integer("provider:segmentation_id"),
        "mtu": integer("mtu"),
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=120.0,
)
