"""Nova flavors (small set, listed fully)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String

from app.resources._common import cloud_indexes
from app.resources.base import Listing, ResourceSpec, snapshot_table

table = snapshot_table(
    "flavors",
    Column("name", String(255), doc="Flavor name."),
    Column("vcpus", Integer, doc="Virtual CPUs."),
    Column("ram_mb", Integer, doc="RAM in MiB."),
    Column("disk_gb", Integer, doc="Root disk in GiB."),
    Column("ephemeral_gb", Integer, doc="Ephemeral disk in GiB."),
    Column("swap_mb", Integer, doc="Swap in MiB (0 when none)."),
    Column("rxtx_factor", Float, doc="Network bandwidth factor."),
    Column("is_public", Boolean, doc="Visible to every project."),
    Column("is_disabled", Boolean, doc="Disabled flavors cannot be used for new servers."),
    *cloud_indexes("flavors", "name", "vcpus", "ram_mb", "is_public"),
    doc="Nova flavors (instance sizes). Extra specs are in raw.extra_specs (microversion 2.61+).",
)

SPEC = ResourceSpec(
    kind="flavors",
    table=table,
    description="Nova flavors",
    listing=Listing(service="compute", path="/flavors/detail", collection="flavors",
                    params={"is_public": "None"}, microversion="max"),
    get_path="/flavors/{id}",
    get_key="flavor",
    columns={
        "name": "name",
        "vcpus": "vcpus",
        "ram_mb": "ram",
        "disk_gb": "disk",
        "ephemeral_gb": "OS-FLV-EXT-DATA:ephemeral",
        "swap_mb": lambda r: r.get("swap") or 0,
        "rxtx_factor": "rxtx_factor",
        "is_public": "os-flavor-access:is_public",
        "is_disabled": "OS-FLV-DISABLED:disabled",
    },
    searchable=("name",),
    filterable=("name", "vcpus", "ram_mb", "is_public"),
    poll_interval=600.0,
)
