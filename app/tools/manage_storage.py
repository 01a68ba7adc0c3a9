"""manage_volume and manage_snapshot: Cinder writes (registered only when writes are enabled)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_storage as inv
from app.services.manage.storage import MANAGE_SNAPSHOT, MANAGE_VOLUME
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, Timeout, Wait, caller

Limit = Annotated[int, Field(description="For list: rows per page (1..200).")]
Offset = Annotated[int, Field(description="For list: rows to skip.")]


async def manage_volume(
    ctx: Context[AppContext],
    action: Annotated[str, Field(description="create, delete, extend, attach, detach or list.",
                                 json_schema_extra={"enum": MANAGE_VOLUME.action_names})],
    volume_name: Annotated[str | None, Field(description="create: the new volume's name; delete/extend/attach/detach: "
                                                         "exact name or ID (an ambiguous name is refused); list: name "
                                                         "filter.")] = None,
    size: Annotated[int | None, Field(description="create: size in GiB.")] = None,
    new_size: Annotated[int | None, Field(description="extend: the new, larger size in GiB.")] = None,
    volume_type: Annotated[str | None, Field(description="create: volume type name or ID; list: type filter.")] = None,
    availability_zone: Annotated[str | None, Field(description="create: storage AZ; list: AZ filter.")] = None,
    description: Annotated[str | None, Field(description="create: free-text description.")] = None,
    instance_name: Annotated[str | None, Field(description="attach: the instance's exact name or ID; detach: which "
                                                           "instance to detach from (needed when the volume is "
                                                           "attached to several).")] = None,
    device: Annotated[str | None, Field(description="attach: guest device path, e.g. /dev/vdb (default: Nova picks "
                                                    "the next free one; hypervisors may ignore it).")] = None,
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OperationResult:
    """Manage Cinder volumes. Actions: create (volume_name, size, optional volume_type,
    availability_zone, description), delete (volume_name; needs confirmation), extend (volume_name,
    new_size larger than the current size), attach (volume_name to instance_name, optional device),
    detach (volume_name from its instance; instance_name when attached to several; needs confirmation),
    list (from the snapshot, filtered by volume_name, volume_type, availability_zone; paged). Any other
    action is refused.

    delete and detach are destructive: the first call changes nothing and returns a preview plus a
    confirmation_token; show it to the user and, with their consent, repeat the identical call with
    confirmation_token. Results report the refreshed volume (status, size_gb); attach/detach also
    refresh the instance's row (its attached volumes); wait=true polls until available
    (create/extend/detach), in-use (attach) or gone (delete)."""
    if action == "list":
        return await MANAGE_VOLUME.read(
            caller(ctx), action, {"volume_name": volume_name, "volume_type": volume_type,
                                  "availability_zone": availability_zone, "limit": limit, "offset": offset},
            lambda app: inv.volume_list(app, limit=limit, offset=offset, status=None, orphaned=None, project=None,
                                        volume_type=volume_type, availability_zone=availability_zone,
                                        name=volume_name))
    args = {"volume_name": volume_name, "size": size, "new_size": new_size, "volume_type": volume_type,
            "availability_zone": availability_zone, "description": description, "instance_name": instance_name,
            "device": device}
    return await MANAGE_VOLUME.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                   timeout=timeout)


async def manage_snapshot(
    ctx: Context[AppContext],
    action: Annotated[str, Field(description="create, delete or list.")],
    snapshot_name: Annotated[str | None, Field(description="create: the new snapshot's name; delete: exact name or ID "
                                                           "(an ambiguous name is refused); list: name filter.")] = None,
    volume_name: Annotated[str | None, Field(description="create: the source volume's exact name or ID; list: only "
                                                         "snapshots of this volume.")] = None,
    description: Annotated[str | None, Field(description="create: free-text description.")] = None,
    force: Annotated[bool, Field(description="create: snapshot an in-use (attached) volume.")] = False,
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OperationResult:
    """Manage Cinder volume snapshots. Actions: create (snapshot_name from volume_name; force=true
    for an attached volume), delete (snapshot_name; needs confirmation), list (from the snapshot,
    filtered by snapshot_name / volume_name; paged). Any other action is refused.

    delete is destructive: the first call changes nothing and returns a preview plus a
    confirmation_token; show it to the user and, with their consent, repeat the identical call with
    confirmation_token. Results report the refreshed snapshot row; wait=true polls until available
    (create) or gone (delete)."""
    if action == "list":
        return await MANAGE_SNAPSHOT.read(
            caller(ctx), action,
            {"snapshot_name": snapshot_name, "volume_name": volume_name, "limit": limit, "offset": offset},
            lambda app: inv.snapshot_list(app, limit=limit, offset=offset, status=None, project=None,
                                          volume=volume_name, name=snapshot_name))
    args = {"snapshot_name": snapshot_name, "volume_name": volume_name, "description": description,
            "force": force or None}
    return await MANAGE_SNAPSHOT.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                     timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_volume, title="Create, delete, extend, attach, detach or list volumes",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
    register_tool(mcp, manage_snapshot, title="Create, delete or list volume snapshots",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
