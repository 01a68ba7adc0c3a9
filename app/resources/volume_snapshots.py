"""Cinder volume snapshots (``/snapshots/detail?all_tenants=1``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String

from app.resources._common import cloud_indexes, integer, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "status", "volume_id", "project_id", "created_at")

table = snapshot_table(
    "volume_snapshots",
    Column("name", String(255), doc="Snapshot name."),
    Column("status", String(32), doc="available, creating, error, deleting, ..."),
    Column("size_gb", Integer, doc="Size in GiB."),
    Column("volume_id", String(64), doc="Source volume (joins volumes.id)."),
    Column("project_id", String(64), doc="os-extended-snapshot-attributes:project_id."),
    Column("user_id", String(64), doc="Creator (3.41+)."),
    Column("progress", String(16), doc="os-extended-snapshot-attributes:progress, e.g. 100%."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("volume_snapshots", *FILTERABLE),
    doc="Cinder volume snapshots, all projects.",
)

SPEC = ResourceSpec(
    kind="volume_snapshots",
    table=table,
    description="Cinder volume snapshots of every project",
    listing=Listing(service="block_storage", path="/snapshots/detail", collection="snapshots",
                    params={"all_tenants": "1"}, microversion="max"),
    get_path="/snapshots/{id}",
    get_key="snapshot",
    columns={
        "name": lambda r: r.get("name") or None,
        "status": "status",
        "size_gb": integer("size"),
        "volume_id": "volume_id",
        "project_id": text("os-extended-snapshot-attributes:project_id"),
        "user_id": "user_id",
        "progress": "os-extended-snapshot-attributes:progress",
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=120.0,
    admin_only=True,
)
