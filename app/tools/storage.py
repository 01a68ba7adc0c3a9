"""Cinder read tools: volumes, volume types, volume snapshots (answered from the snapshot)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_storage as svc
from app.services.inventory import Limit, NameFilter, Offset, ProjectFilter
from app.tools.base import app_context, register_tool
from app.tools.detail import Detail, lean

VolumeList = svc.VOLUMES.list_model
VolumeTypeList = svc.VOLUME_TYPES.list_model
VolumeSnapshotList = svc.VOLUME_SNAPSHOTS.list_model

Status = Annotated[str | None, Field(description="Only this status, case-insensitive (available, in-use, error, ...).")]


@lean("id", "name", "status", "size_gb", "volume_type", "bootable", "project_name", "attachments")
async def get_volume_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Status = None,
    orphaned: Annotated[bool | None, Field(description="true: only available volumes attached to nothing "
                                                       "(candidates for cleanup); false: all others.")] = None,
    project: ProjectFilter = None,
    volume_type: Annotated[str | None, Field(description="Only this volume type (name or ID).")] = None,
    availability_zone: Annotated[str | None, Field(description="Only this storage availability zone.")] = None,
    name: NameFilter = None,
    detail: Detail = "brief",
) -> VolumeList:  # type: ignore[valid-type]
    """Volumes of every project ordered by name: status, size (GiB), type, availability zone,
    bootable/encrypted/multiattach, backend host, project, and attachments (instance id and name,
    device). Replaces the original manage_volume(action='list'), paged and filtered in SQL."""
    return await svc.volume_list(app_context(ctx), limit=limit, offset=offset, status=status, orphaned=orphaned,
                                 project=project, volume_type=volume_type, availability_zone=availability_zone,
                                 name=name)


async def get_volume_types(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    is_public: Annotated[bool | None, Field(description="Only public (true) or private (false) types.")] = None,
    name: NameFilter = None,
) -> VolumeTypeList:  # type: ignore[valid-type]
    """Volume types ordered by name: extra specs, public flag, QoS specs id, backend name, and how
    many live volumes use each type."""
    return await svc.volume_type_list(app_context(ctx), limit=limit, offset=offset, is_public=is_public, name=name)


async def get_volume_snapshots(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Status = None,
    project: ProjectFilter = None,
    volume: Annotated[str | None, Field(description="Only snapshots of this volume (exact name or ID).")] = None,
    name: NameFilter = None,
) -> VolumeSnapshotList:  # type: ignore[valid-type]
    """Volume snapshots of every project ordered by name: source volume (id and name), size (GiB),
    status, progress, project, creation time."""
    return await svc.snapshot_list(app_context(ctx), limit=limit, offset=offset, status=status, project=project,
                                   volume=volume, name=name)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_volume_list, title="Volumes and attachments", cached=True)
    register_tool(mcp, get_volume_types, title="Volume types", cached=True)
    register_tool(mcp, get_volume_snapshots, title="Volume snapshots", cached=True)
