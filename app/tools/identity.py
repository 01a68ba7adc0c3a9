"""Keystone read tools: users, projects, role assignments (answered from the snapshot)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_identity as svc
from app.services.inventory import Limit, NameFilter, Offset
from app.tools.base import app_context, register_tool

UserList = svc.USERS.list_model
ProjectList = svc.PROJECTS.list_model
RoleAssignmentList = svc.ROLE_ASSIGNMENTS.list_model

Enabled = Annotated[bool | None, Field(description="Only enabled (true) or disabled (false).")]
Domain = Annotated[str | None, Field(description="Only this domain ID (e.g. default).")]


async def get_user_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    enabled: Enabled = None,
    domain: Domain = None,
    name: NameFilter = None,
) -> UserList:  # type: ignore[valid-type]
    """Keystone users ordered by name: domain, enabled, default project (id and name), description.
    E-mail addresses and password data are never stored nor returned."""
    return await svc.user_list(app_context(ctx), limit=limit, offset=offset, enabled=enabled, domain=domain,
                               name=name)


async def get_project_list(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    enabled: Enabled = None,
    domain: Domain = None,
    name: NameFilter = None,
) -> ProjectList:  # type: ignore[valid-type]
    """Keystone projects ordered by name: domain, enabled, parent (id and name), description, and the
    number of live instances each owns."""
    return await svc.project_list(app_context(ctx), limit=limit, offset=offset, enabled=enabled, domain=domain,
                                  name=name)


async def get_role_assignments(
    ctx: Context[AppContext],
    limit: Limit = 50,
    offset: Offset = 0,
    user: Annotated[str | None, Field(description="Only this user (exact name or ID).")] = None,
    project: Annotated[str | None, Field(description="Only assignments on this project (exact name or ID).")] = None,
    role: Annotated[str | None, Field(description="Only this role (exact name or ID).")] = None,
    group: Annotated[str | None, Field(description="Only this group (exact name or ID).")] = None,
) -> RoleAssignmentList:  # type: ignore[valid-type]
    """Who has which role where: user or group (id and name), role (id and name), and the scope
    (project or domain, id and name; or system), whether inherited. Direct assignments as Keystone
    lists them; group members are not expanded."""
    return await svc.role_assignment_list(app_context(ctx), limit=limit, offset=offset, user=user, project=project,
                                          role=role, group=group)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, get_user_list, title="Keystone users", cached=True)
    register_tool(mcp, get_project_list, title="Keystone projects", cached=True)
    register_tool(mcp, get_role_assignments, title="Role assignments", cached=True)
