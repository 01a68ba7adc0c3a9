"""Neutron routers. Interfaces are in the router_interfaces link table (derived from ports)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, items, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "status", "project_id", "external_network_id")

table = snapshot_table(
    "routers",
    Column("name", String(255), doc="Router name."),
    Column("status", String(16), doc="ACTIVE, DOWN, ERROR."),
    Column("admin_state_up", Boolean, doc="Administrative state."),
    Column("external_network_id", String(64), doc="external_gateway_info.network_id (NULL: no gateway)."),
    Column("external_ip", String(64), doc="First address of external_gateway_info.external_fixed_ips."),
    Column("enable_snat", Boolean, doc="external_gateway_info.enable_snat."),
    Column("distributed", Boolean, doc="DVR router (admin only)."),
    Column("ha", Boolean, doc="HA router (admin only)."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("routers", *FILTERABLE),
    doc="Neutron routers. Static routes in raw.routes.",
)


def _external_ip(raw: dict[str, Any]) -> str | None:
    gw = raw.get("external_gateway_info") or {}
    ips = [f.get("ip_address") for f in items(gw.get("external_fixed_ips")) if f.get("ip_address")]
    return ips[0] if ips else None


SPEC = ResourceSpec(
    kind="routers",
    table=table,
    description="Neutron routers",
    listing=Listing(service="network", path="/routers", collection="routers"),
    get_path="/routers/{id}",
    get_key="router",
    columns={
        "name": "name",
        "status": "status",
        "admin_state_up": boolean("admin_state_up"),
        "external_network_id": "external_gateway_info.network_id",
        "external_ip": _external_ip,
        "enable_snat": boolean("external_gateway_info.enable_snat"),
        "distributed": boolean("distributed"),
        "ha": boolean("ha"),
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=120.0,
)
