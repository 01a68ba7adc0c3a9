"""Cinder volumes (``/volumes/detail?all_tenants=1`` at the highest microversion, paths relative to
the block-storage adapter's versioned endpoint ``.../v3/<project>``). Attachments go to a link table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import boolean, cloud_indexes, integer, items, parse_ts, text, ts
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table

FILTERABLE = ("name", "status", "volume_type", "availability_zone", "bootable", "host", "project_id",
              "user_id", "snapshot_id", "created_at", "updated_at")

table = snapshot_table(
    "volumes",
    Column("name", String(255), doc="Volume name."),
    Column("status", String(32), doc="available, in-use, creating, error, extending, ..."),
    Column("size_gb", Integer, doc="Size in GiB."),
    Column("volume_type", String(255), doc="Volume type name."),
    Column("volume_type_id", String(64), doc="Volume type id (3.63+)."),
    Column("availability_zone", String(255), doc="Storage availability zone."),
    Column("bootable", Boolean, doc="Bootable (Cinder reports the string 'true'/'false')."),
    Column("encrypted", Boolean, doc="Encrypted."),
    Column("multiattach", Boolean, doc="Can attach to several servers."),
    Column("host", String(255), doc="os-vol-host-attr:host: host@backend#pool (admin only)."),
    Column("project_id", String(64), doc="os-vol-tenant-attr:tenant_id."),
    Column("user_id", String(64), doc="Creator."),
    Column("snapshot_id", String(64), doc="Snapshot it was created from."),
    Column("source_volid", String(64), doc="Volume it was cloned from."),
    Column("image_id", String(64), doc="volume_image_metadata.image_id (volumes created from images)."),
    Column("migration_status", String(32), doc="os-vol-mig-status-attr:migstat."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    # name + id: the list order (name, id) is the index order, so a deep page is an index-only walk.
    # status + name + id: a status's volumes in list order, and the orphaned-volume count and page
    # (available, no attachment row) walk the index without reading or sorting volume rows.
    *cloud_indexes("volumes", *FILTERABLE, then={"name": ("id",), "status": ("name", "id")}),
    doc="Cinder volumes, all projects.",
)

attachments = link_table(
    "volume_attachments", "volume",
    Column("server_id", String(64), doc="Attached server (joins servers.id)."),
    Column("attachment_id", String(64), doc="Attachment id."),
    Column("device", String(64), doc="Device path in the guest, e.g. /dev/vdb."),
    Column("host_name", String(255), doc="Host the attachment is on."),
    Column("attached_at", DateTime, doc="When attached (UTC)."),
    *cloud_indexes("volume_attachments", "server_id"),
    doc="Volume attachments (from the volume's attachments).",
)


def _attachment_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "server_id": a.get("server_id"),
            "attachment_id": a.get("attachment_id") or a.get("id"),
            "device": a.get("device"),
            "host_name": a.get("host_name"),
            "attached_at": parse_ts(a.get("attached_at")),
        }
        for a in items(raw.get("attachments"))
    ]


SPEC = ResourceSpec(
    kind="volumes",
    table=table,
    description="Cinder volumes of every project",
    listing=Listing(service="block_storage", path="/volumes/detail", collection="volumes",
                    params={"all_tenants": "1"}, microversion="max"),
    get_path="/volumes/{id}",
    get_key="volume",
    columns={
        "name": lambda r: r.get("name") or None,
        "status": "status",
        "size_gb": integer("size"),
        "volume_type": "volume_type",
        "volume_type_id": "volume_type_id",
        "availability_zone": "availability_zone",
        "bootable": boolean("bootable"),
        "encrypted": boolean("encrypted"),
        "multiattach": boolean("multiattach"),
        "host": "os-vol-host-attr:host",
        "project_id": text("os-vol-tenant-attr:tenant_id"),
        "user_id": "user_id",
        "snapshot_id": "snapshot_id",
        "source_volid": "source_volid",
        "image_id": "volume_image_metadata.image_id",
        "migration_status": "migration_status",
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    children=(ChildSpec(attachments, _attachment_rows),),
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=60.0,
    admin_only=True,
)
