"""Image, stack and keypair read tools (answered from the snapshot)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_catalog as svc
from app.services.inventory import Limit, NameFilter, Offset, ProjectFilter
from app.tools.base import app_context, register_tool
from app.tools.detail import Detail, lean

ImageList = svc.IMAGES.list_model
StackList = svc.STACKS.list_model
KeypairList = svc.KEYPAIRS.list_model


async def get_image_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Field(description="Only this status: active, queued, deactivated, ... "
                                                    "(case-insensitive).")] = None,
    visibility: Annotated[str | None, Field(description="Only public, private, shared or community images.")] = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
) -> ImageList:  # type: ignore[valid-type]
    """Glance images ordered by name: status, visibility, disk and container formats, size and
    virtual size (bytes), minimum disk (GiB) and RAM (MiB), protected/hidden flags, OS distro and
    owner project (id and name). Replaces the original manage_image(action='list')."""
    return await svc.image_list(app_context(ctx), limit=limit, offset=offset, status=status, visibility=visibility,
                                project=project, name=name)


@lean("id", "name", "status", "status_reason", "project_name", "updated_at")
async def get_stacks(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Field(description="A full status (CREATE_FAILED) or an outcome matching every "
                                                    "action (FAILED, COMPLETE, IN_PROGRESS); case-insensitive.")] = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
    detail: Detail = "brief",
) -> StackList:  # type: ignore[valid-type]
    """Heat stacks of every project ordered by name: status and status reason, action, created and
    updated times, parent stack (nested stacks), owner and project (id and name)."""
    return await svc.stack_list(app_context(ctx), limit=limit, offset=offset, status=status, project=project,
                                name=name)


async def get_keypair_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    name: NameFilter = None,
) -> KeypairList:  # type: ignore[valid-type]
    """Nova keypairs of the polling user ordered by name: fingerprint, type (ssh/x509), owner user
    when Nova reports it. Only fingerprints: public and private key material is never returned."""
    return await svc.keypair_list(app_context(ctx), limit=limit, offset=offset, name=name)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_image_list, title="Glance images", cached=True)
    register_tool(mcp, get_stacks, title="Heat stacks", cached=True)
    register_tool(mcp, get_keypair_list, title="Nova keypairs", cached=True)
