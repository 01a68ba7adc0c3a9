"""manage_image: Glance image writes (registered only when writes are enabled)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_catalog as inv
from app.services.manage.images import MANAGE_IMAGE
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, ListLimit, ListOffset, Timeout, Wait, caller


async def manage_image(
    ctx: Context[AppContext],
    image_name: Annotated[str, Field(description="create: the new image's name; update/delete: exact name or ID (an "
                                                 "ambiguous name is refused); list: name filter (may be empty).")],
    action: Annotated[str, Field(description="create, update, delete or list.")],
    container_format: Annotated[str, Field(description="create: bare, ovf, ova, docker, ...")] = "bare",
    disk_format: Annotated[str, Field(description="create: qcow2, raw, vmdk, iso, ...")] = "qcow2",
    visibility: Annotated[str | None, Field(description="create: private (default), shared, community or public; "
                                                        "update: the new visibility; list: filter.")] = None,
    file_path: Annotated[str | None, Field(description="create: absolute path of a local file to upload; it must be "
                                                       "under a directory the operator allowed (OPS_IMAGE_UPLOAD_DIRS) "
                                                       "and within OPS_IMAGE_UPLOAD_MAX_BYTES. URLs are not "
                                                       "supported.")] = None,
    new_name: Annotated[str | None, Field(description="update: rename to this.")] = None,
    protected: Annotated[bool | None, Field(description="create/update: protect from deletion (true/false).")] = None,
    min_disk: Annotated[int | None, Field(description="create/update: minimum root disk in GiB.")] = None,
    min_ram: Annotated[int | None, Field(description="create/update: minimum RAM in MiB.")] = None,
    properties: Annotated[dict[str, Any] | None, Field(description="create/update: custom properties, e.g. "
                                                                   "{\"os_distro\": \"ubuntu\"}; on update a null "
                                                                   "value removes the property.")] = None,
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: ListLimit = 50,
    offset: ListOffset = 0,
) -> OperationResult:
    """Manage Glance images. Actions: create (image_name, disk_format, container_format, visibility,
    min_disk, min_ram, protected, properties; optionally file_path to upload a local file, else the
    image stays 'queued' without data), update (image_name plus any of new_name, visibility, protected,
    min_disk, min_ram, properties; sent as a JSON-patch), delete (needs confirmation; a protected image
    is refused: update protected=false first), list (from the snapshot, filtered by image_name and
    visibility; paged). Any other action is refused.

    Uploads read only local files under the operator's allowed directories (symlinks and '..' are
    resolved first; anything outside is refused); there is no upload from URLs. delete first returns a
    preview plus a confirmation_token; show it to the user and, with their consent, repeat the identical
    call with confirmation_token. Results report the refreshed image row; wait=true polls until active
    (create with upload), the updated values, or gone (delete)."""
    if action == "list":
        return await MANAGE_IMAGE.read(
            caller(ctx), action, {"image_name": image_name or None, "visibility": visibility, "limit": limit,
                                  "offset": offset},
            lambda app: inv.image_list(app, limit=limit, offset=offset, status=None, visibility=visibility,
                                       project=None, name=image_name or None))
    create = action == "create"
    args = {"image_name": image_name, "container_format": container_format if create else None,
            "disk_format": disk_format if create else None, "visibility": visibility, "file_path": file_path,
            "new_name": new_name, "protected": protected, "min_disk": min_disk, "min_ram": min_ram,
            "properties": properties}
    return await MANAGE_IMAGE.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                  timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_image, title="Create, update, delete or list images",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
