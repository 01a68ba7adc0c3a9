"""Glance images. openstacksdk's image adapter resolves to the versioned endpoint (``.../v2``), so the
path is ``/images`` (``visibility=all`` includes community images). Glance paginates with ``next``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, String

from app.resources._common import boolean, cloud_indexes, integer, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "status", "visibility", "project_id", "disk_format", "created_at")

table = snapshot_table(
    "images",
    Column("name", String(255), doc="Image name."),
    Column("status", String(32), doc="queued, saving, active, killed, deleted, deactivated, importing."),
    Column("visibility", String(16), doc="public, private, shared, community."),
    Column("project_id", String(64), doc="owner: the owning project."),
    Column("disk_format", String(32), doc="qcow2, raw, vmdk, iso, ..."),
    Column("container_format", String(32), doc="bare, ovf, docker, ..."),
    Column("size_bytes", BigInteger, doc="Size in bytes."),
    Column("virtual_size_bytes", BigInteger, doc="Virtual disk size in bytes."),
    Column("min_disk_gb", Integer, doc="Minimum root disk GiB."),
    Column("min_ram_mb", Integer, doc="Minimum RAM MiB."),
    Column("protected", Boolean, doc="Cannot be deleted."),
    Column("os_hidden", Boolean, doc="Hidden from default listings."),
    Column("os_distro", String(64), doc="os_distro property."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("images", *FILTERABLE),
    doc="Glance images. Custom properties and tags in raw.",
)

SPEC = ResourceSpec(
    kind="images",
    table=table,
    description="Glance images",
    listing=Listing(service="image", path="/images", collection="images", params={"visibility": "all"}),
    get_path="/images/{id}",
    get_key=None,
    columns={
        "name": "name",
        "status": "status",
        "visibility": "visibility",
        "project_id": text("owner"),
        "disk_format": "disk_format",
        "container_format": "container_format",
        "size_bytes": integer("size"),
        "virtual_size_bytes": integer("virtual_size"),
        "min_disk_gb": integer("min_disk"),
        "min_ram_mb": integer("min_ram"),
        "protected": boolean("protected"),
        "os_hidden": boolean("os_hidden"),
        "os_distro": "os_distro",
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=300.0,
)
