"""Placement resource providers with their inventories and usages.

The listing enriches each provider with two sub-requests (``Listing.enrich``):
``/resource_providers/{id}/inventories`` and ``/resource_providers/{id}/usages``; their bodies land
in ``raw["inventories"]`` and ``raw["usages"]`` and become the link tables below. Compute node
providers are named after the hypervisor (and share its UUID from compute 2.53), which is how
v_hypervisor_capacity joins them. Capacity = (total - reserved) * allocation_ratio.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Float, Integer, String

from app.resources._common import as_float, as_int, cloud_indexes, integer
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table

table = snapshot_table(
    "resource_providers",
    Column("name", String(255), doc="Provider name (compute nodes: the hypervisor_hostname)."),
    Column("generation", Integer, doc="Consistency generation."),
    Column("parent_provider_id", String(64), doc="parent_provider_uuid (nested providers, 1.14+)."),
    Column("root_provider_id", String(64), doc="root_provider_uuid (1.14+)."),
    *cloud_indexes("resource_providers", "name", "root_provider_id"),
    doc="Placement resource providers (compute nodes and nested providers). id = uuid.",
)

inventories = link_table(
    "resource_provider_inventories", "resource_provider",
    Column("resource_class", String(255), doc="VCPU, MEMORY_MB, DISK_GB, CUSTOM_*, ..."),
    Column("total", Integer, doc="Total amount."),
    Column("reserved", Integer, doc="Reserved for the host."),
    Column("min_unit", Integer, doc="Smallest allocation."),
    Column("max_unit", Integer, doc="Largest single allocation."),
    Column("step_size", Integer, doc="Allocation granularity."),
    Column("allocation_ratio", Float, doc="Overcommit ratio."),
    *cloud_indexes("resource_provider_inventories", "resource_class"),
    doc="Inventory per provider and resource class; capacity = (total - reserved) * allocation_ratio.",
)

usages = link_table(
    "resource_provider_usages", "resource_provider",
    Column("resource_class", String(255), doc="VCPU, MEMORY_MB, DISK_GB, ..."),
    Column("used", Integer, doc="Amount allocated to consumers."),
    *cloud_indexes("resource_provider_usages", "resource_class"),
    doc="Usage per provider and resource class.",
)


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """``raw[key]`` is the sub-request's body (``{"inventories": {...}, "resource_provider_generation":
    N}``); accept the bare mapping too."""
    body = raw.get(key) or {}
    inner = body.get(key) if isinstance(body, dict) and isinstance(body.get(key), dict) else body
    return inner if isinstance(inner, dict) else {}


def _inventory_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "resource_class": rc,
            "total": as_int(inv.get("total")),
            "reserved": as_int(inv.get("reserved")) or 0,
            "min_unit": as_int(inv.get("min_unit")),
            "max_unit": as_int(inv.get("max_unit")),
            "step_size": as_int(inv.get("step_size")),
            "allocation_ratio": as_float(inv.get("allocation_ratio")) or 1.0,
        }
        for rc, inv in sorted(_section(raw, "inventories").items())
        if isinstance(inv, dict)
    ]


def _usage_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"resource_class": rc, "used": as_int(v)} for rc, v in sorted(_section(raw, "usages").items())]


SPEC = ResourceSpec(
    kind="resource_providers",
    table=table,
    description="Placement resource providers with inventories and usages",
    listing=Listing(
        service="placement", path="/resource_providers", collection="resource_providers", paginated=False,
        microversion="max",
        enrich={"inventories": "/resource_providers/{id}/inventories", "usages": "/resource_providers/{id}/usages"},
    ),
    get_path="/resource_providers/{id}",
    get_key=None,
    id_key="uuid",
    columns={
        "name": "name",
        "generation": integer("generation"),
        "parent_provider_id": "parent_provider_uuid",
        "root_provider_id": "root_provider_uuid",
    },
    children=(ChildSpec(inventories, _inventory_rows), ChildSpec(usages, _usage_rows)),
    searchable=("name",),
    filterable=("name", "root_provider_id"),
    poll_interval=300.0,
    admin_only=True,
)
