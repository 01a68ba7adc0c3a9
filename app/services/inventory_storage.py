"""Cinder inventory views: volume types (extra specs, volume counts), volume snapshots (source
volume) and volumes (attachments with server names, orphan filter)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, exists, select

from app.resources.servers import table as servers
from app.resources.volumes import attachments
from app.resources.volumes import table as volumes
from app.services.inventory import (
    Page, Ref, View, grouped, id_or_name, list_view, raw_of, status_project_filters,
)
from app.services.query import ordered

if TYPE_CHECKING:
    from app.context import AppContext

PROJECT = Ref("project_id", "projects")


# ---------------------------------------------------------------------------------------------
# volume types


def _type_extras(page: Page) -> list[dict[str, Any]]:
    counts = page.count_by(volumes, "volume_type", page.values("name"), "volumes")
    out = []
    for r in page.rows:
        specs = raw_of(r).get("extra_specs")
        out.append({"extra_specs": {str(k): str(v) for k, v in specs.items()} if isinstance(specs, dict) else {},
                    "volume_count": counts.get(r.name, 0) if r.name else None})
    return out


VOLUME_TYPES = View(
    kind="volume_types", model_name="VolumeType", items_field="volume_types",
    items_doc="This window of volume types, ordered by name then id.",
    extras={
        "extra_specs": (dict[str, str], Field(description="Extra specs (backend, QoS, replication, ...; admin only).")),
        "volume_count": (int | None, Field(description="Live volumes of this type (null if volumes never synced).")),
    },
    enrich=_type_extras,
    uses=("volumes",),
)


async def volume_type_list(app: AppContext, *, limit: int, offset: int, is_public: bool | None, name: str | None) -> Any:
    return await list_view(app, VOLUME_TYPES, limit=limit, offset=offset, filters={"is_public": is_public}, name=name)


# ---------------------------------------------------------------------------------------------
# snapshots

VOLUME_SNAPSHOTS = View(
    kind="volume_snapshots", model_name="VolumeSnapshot", items_field="snapshots",
    items_doc="This window of volume snapshots, ordered by name then id.",
    refs=(PROJECT, Ref("volume_id", "volumes")),
)


async def snapshot_list(app: AppContext, *, limit: int, offset: int, status: str | None, project: str | None,
                        volume: str | None, name: str | None) -> Any:
    c = VOLUME_SNAPSHOTS.table.c
    where = status_project_filters(app, VOLUME_SNAPSHOTS.table, status, project)
    if volume:
        where.append(id_or_name(c.volume_id, volume.strip(), "volumes", app.cloud_name))
    return await list_view(app, VOLUME_SNAPSHOTS, limit=limit, offset=offset, where=where, name=name)


# ---------------------------------------------------------------------------------------------
# volumes


class VolumeAttachmentOut(BaseModel):
    server_id: str | None = Field(description="Attached instance id.")
    server_name: str | None = Field(description="Attached instance name (null if not in the snapshot).")
    device: str | None = Field(description="Device path in the guest, e.g. /dev/vdb.")
    host_name: str | None = Field(description="Host of the attachment.")
    attached_at: datetime | None = Field(description="When attached (UTC).")


def _volume_extras(page: Page) -> list[dict[str, Any]]:
    a, s = attachments, servers
    rows = (page.conn.execute(
        select(a, s.c.name.label("server_name"))
        .select_from(a.outerjoin(s, and_(s.c.cloud == a.c.cloud, s.c.id == a.c.server_id, s.c.deleted_at.is_(None))))
        .where(a.c.cloud == page.cloud, a.c.volume_id.in_(page.ids))
        .order_by(*ordered(a.c.volume_id, a.c.device, a.c.server_id)))).all()
    by_volume = grouped((r.volume_id, VolumeAttachmentOut(
        server_id=r.server_id, server_name=r.server_name, device=r.device, host_name=r.host_name,
        attached_at=r.attached_at)) for r in rows)
    return [{"attachments": by_volume.get(i, [])} for i in page.ids]


VOLUMES = View(
    kind="volumes", model_name="Volume", items_field="volumes",
    items_doc="This window of volumes, ordered by name then id.",
    refs=(PROJECT,),
    extras={"attachments": (list[VolumeAttachmentOut], Field(description="Instances the volume is attached to."))},
    enrich=_volume_extras,
    uses=("servers",),
)


def orphaned_condition() -> Any:
    """Available and attached to nothing: a volume that costs storage and serves no instance."""
    attached = exists().where(attachments.c.cloud == volumes.c.cloud, attachments.c.volume_id == volumes.c.id)
    return and_(volumes.c.status == "available", ~attached)


async def volume_list(app: AppContext, *, limit: int, offset: int, status: str | None, orphaned: bool | None,
                      project: str | None, volume_type: str | None, availability_zone: str | None,
                      name: str | None) -> Any:
    c = volumes.c
    where = status_project_filters(app, volumes, status, project)
    if orphaned is not None:
        where.append(orphaned_condition() if orphaned else ~orphaned_condition())
    if volume_type:
        vt = volume_type.strip()
        where.append((c.volume_type == vt) | (c.volume_type_id == vt))
    return await list_view(app, VOLUMES, limit=limit, offset=offset, where=where, name=name,
                           filters={"availability_zone": availability_zone or None})

