"""Cinder volume types (``/types?is_public=None``: an admin sees private types too)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String

from app.resources._common import boolean, cloud_indexes
from app.resources.base import Listing, ResourceSpec, snapshot_table

table = snapshot_table(
    "volume_types",
    Column("name", String(255), doc="Type name (volumes.volume_type)."),
    Column("description", String(255), doc="Description."),
    Column("is_public", Boolean, doc="os-volume-type-access:is_public."),
    Column("backend_name", String(255), doc="extra_specs.volume_backend_name (admin only)."),
    Column("qos_specs_id", String(64), doc="Associated QoS specs."),
    *cloud_indexes("volume_types", "name", "is_public"),
    doc="Cinder volume types. Extra specs in raw.extra_specs.",
)

SPEC = ResourceSpec(
    kind="volume_types",
    table=table,
    description="Cinder volume types",
    listing=Listing(service="block_storage", path="/types", collection="volume_types",
                    params={"is_public": "None"}, paginated=False),
    get_path="/types/{id}",
    get_key="volume_type",
    columns={
        "name": "name",
        "description": lambda r: r.get("description") or None,
        "is_public": boolean("os-volume-type-access:is_public"),
        "backend_name": "extra_specs.volume_backend_name",
        "qos_specs_id": "qos_specs_id",
    },
    searchable=("name",),
    filterable=("name", "is_public"),
    poll_interval=900.0,
)
