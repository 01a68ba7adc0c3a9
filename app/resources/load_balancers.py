"""Octavia load balancers (``/lbaas/loadbalancers`` on the ``load-balancer`` endpoint's v2; an admin
lists every project's). A cloud without Octavia in its catalog makes the kind ``unavailable``.

Octavia has two statuses: ``provisioning_status`` (ACTIVE, PENDING_*, ERROR, DELETED: did the last
change go through) and ``operating_status`` (ONLINE, DEGRADED, ERROR, OFFLINE, DRAINING, NO_MONITOR:
does it serve traffic). Listener and pool ids are in raw.listeners / raw.pools."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, items, lowered, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

LB_SERVICE = "load_balancer"
FILTERABLE = ("name", "provisioning_status", "operating_status", "project_id", "vip_address", "vip_subnet_id",
              "vip_network_id", "vip_port_id", "created_at")


def first_id(key: str) -> Any:
    """Column source: the id of the first ``{"id": ...}`` reference in the list at ``key`` (Octavia
    lists a child's parents as such references, e.g. ``loadbalancers: [{"id": ...}]``)."""

    def get(raw: dict[str, Any]) -> str | None:
        ids = [str(r["id"]) for r in items(raw.get(key)) if isinstance(r, dict) and r.get("id")]
        return ids[0] if ids else None

    return get


def status_columns() -> list[Column[Any]]:
    """The two statuses and the admin state every Octavia object carries."""
    return [
        Column("provisioning_status", String(16), doc="ACTIVE, PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE, ERROR, DELETED."),
        Column("operating_status", String(16), doc="ONLINE, DEGRADED, ERROR, OFFLINE, DRAINING, NO_MONITOR."),
        Column("admin_state_up", Boolean, doc="Administrative state."),
    ]


def owner_columns() -> list[Column[Any]]:
    return [
        Column("project_id", String(64), doc="Owning project."),
        Column("created_at", DateTime, doc="Creation time (UTC)."),
        Column("updated_at", DateTime, doc="Last update (UTC)."),
    ]


# Sources of status_columns() and owner_columns().
COMMON_SOURCES = {
    "provisioning_status": "provisioning_status",
    "operating_status": "operating_status",
    "admin_state_up": boolean("admin_state_up"),
    "project_id": text("project_id"),
    "created_at": ts("created_at"),
    "updated_at": ts("updated_at"),
}


table = snapshot_table(
    "load_balancers",
    Column("name", String(255), doc="Load balancer name."),
    *status_columns(),
    Column("vip_address", String(64), doc="The VIP's IP address."),
    Column("vip_port_id", String(64), doc="Neutron port of the VIP (joins ports.id)."),
    Column("vip_subnet_id", String(64), doc="Subnet of the VIP (joins subnets.id)."),
    Column("vip_network_id", String(64), doc="Network of the VIP (joins networks.id)."),
    Column("provider", String(64), doc="Provider driver, e.g. amphora, ovn."),
    Column("flavor_id", String(64), doc="Octavia flavor (NULL: the default)."),
    Column("availability_zone", String(255), doc="Octavia availability zone."),
    Column("project_id", String(64), doc="Owning project."),
    Column("search_text", String(1024), doc="Lowercased name, id and VIP address for substring search."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("load_balancers", *FILTERABLE, "search_text", then={"name": ("id",)}),
    doc="Octavia load balancers, all projects (for an admin). Listener and pool ids in raw.listeners, raw.pools.",
)

SPEC = ResourceSpec(
    kind="load_balancers",
    table=table,
    description="Octavia load balancers",
    listing=Listing(service=LB_SERVICE, path="/lbaas/loadbalancers", collection="loadbalancers"),
    get_path="/lbaas/loadbalancers/{id}",
    get_key="loadbalancer",
    columns={
        **COMMON_SOURCES,
        "name": lambda r: r.get("name") or None,
        "vip_address": text("vip_address"),
        "vip_port_id": text("vip_port_id"),
        "vip_subnet_id": text("vip_subnet_id"),
        "vip_network_id": text("vip_network_id"),
        "provider": text("provider"),
        "flavor_id": text("flavor_id"),
        "availability_zone": text("availability_zone"),
        "search_text": lowered("name", "id", "vip_address"),
    },
    searchable=("name", "search_text"),
    filterable=FILTERABLE,
    poll_interval=120.0,
)
