"""Keystone inventory views: users (never e-mail or password data), projects (with instance counts)
and role assignments (names resolved by Keystone's include_names)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from app.resources.servers import table as servers
from app.services.inventory import Page, Ref, View, list_view

if TYPE_CHECKING:
    from app.context import AppContext

USERS = View(
    kind="users", model_name="User", items_field="users",
    items_doc="This window of users, ordered by name then id.",
    refs=(Ref("default_project_id", "projects"),),
    exclude=("password_expires_at",),
)


async def user_list(app: AppContext, *, limit: int, offset: int, enabled: bool | None, domain: str | None,
                    name: str | None) -> Any:
    return await list_view(app, USERS, limit=limit, offset=offset, name=name,
                           filters={"enabled": enabled, "domain_id": domain or None})


def _project_extras(page: Page) -> list[dict[str, Any]]:
    counts = page.count_by(servers, "project_id", page.ids, "servers")
    return [{"instance_count": counts.get(i)} for i in page.ids]


PROJECTS = View(
    kind="projects", model_name="Project", items_field="projects",
    items_doc="This window of projects, ordered by name then id.",
    refs=(Ref("parent_id", "projects"),),
    extras={"instance_count": (int | None, Field(description="Live instances owned by the project "
                                                             "(null if servers never synced)."))},
    enrich=_project_extras,
    uses=("servers",),
)


async def project_list(app: AppContext, *, limit: int, offset: int, enabled: bool | None, domain: str | None,
                       name: str | None) -> Any:
    return await list_view(app, PROJECTS, limit=limit, offset=offset, name=name,
                           filters={"enabled": enabled, "domain_id": domain or None})


ROLE_ASSIGNMENTS = View(
    kind="role_assignments", model_name="RoleAssignment", items_field="role_assignments",
    items_doc="This window of role assignments, ordered by user, group, project, domain, role.",
    order_by=("user_name", "group_name", "project_name", "domain_name", "role_name", "id"),
    name_column=None,
)


async def role_assignment_list(app: AppContext, *, limit: int, offset: int, user: str | None, project: str | None,
                               role: str | None, group: str | None) -> Any:
    c = ROLE_ASSIGNMENTS.table.c
    where = []
    for value, id_col, name_col in ((user, c.user_id, c.user_name), (project, c.project_id, c.project_name),
                                    (role, c.role_id, c.role_name), (group, c.group_id, c.group_name)):
        if value and value.strip():
            where.append((id_col == value.strip()) | (name_col == value.strip()))
    return await list_view(app, ROLE_ASSIGNMENTS, limit=limit, offset=offset, where=where)


