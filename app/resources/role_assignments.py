"""Keystone role assignments (``/role_assignments?include_names=True``). They have no id upstream:
the row id is a SHA-1 of (role, actor type + id, scope type + id, inherited), which is exactly what
identifies an assignment, so the same grant keeps its id across syncs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, String

from app.resources._common import cloud_indexes, stable_id
from app.resources.base import Listing, ResourceSpec, dig, snapshot_table

FILTERABLE = ("role_name", "role_id", "user_id", "group_id", "project_id", "domain_id", "scope_type")


def _actor(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    for kind in ("user", "group"):
        if isinstance(raw.get(kind), dict):
            return kind, raw[kind].get("id")
    return None, None


def _scope(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    scope = raw.get("scope") or {}
    for kind in ("project", "domain"):
        if isinstance(scope.get(kind), dict):
            return kind, scope[kind].get("id")
    if "system" in scope:
        return "system", "all"
    return None, None


def _inherited(raw: dict[str, Any]) -> bool:
    return bool((raw.get("scope") or {}).get("OS-INHERIT:inherited_to"))


def assignment_id(raw: dict[str, Any]) -> str:
    return stable_id("role_assignment", dig(raw, "role.id"), *_actor(raw), *_scope(raw), _inherited(raw))


table = snapshot_table(
    "role_assignments",
    Column("role_id", String(64), doc="Role id."),
    Column("role_name", String(255), doc="Role name (include_names)."),
    Column("actor_type", String(8), doc="user or group."),
    Column("user_id", String(64), doc="Assignee user (NULL for group assignments)."),
    Column("user_name", String(255), doc="Assignee user name."),
    Column("group_id", String(64), doc="Assignee group (NULL for user assignments)."),
    Column("group_name", String(255), doc="Assignee group name."),
    Column("scope_type", String(8), doc="project, domain or system."),
    Column("project_id", String(64), doc="Scope project (project scope only)."),
    Column("project_name", String(255), doc="Scope project name."),
    Column("domain_id", String(64), doc="Scope domain (domain scope only)."),
    Column("domain_name", String(255), doc="Scope domain name."),
    Column("inherited", Boolean, doc="OS-INHERIT: applies to the scope's sub-projects."),
    *cloud_indexes("role_assignments", *FILTERABLE, "user_name", "project_name"),
    doc="Keystone role assignments (who has which role where). id = sha1(role, actor, scope, inherited).",
)

SPEC = ResourceSpec(
    kind="role_assignments",
    table=table,
    description="Keystone role assignments",
    listing=Listing(service="identity", path="/role_assignments", collection="role_assignments",
                    params={"include_names": "True"}, paginated=False),
    id_key=assignment_id,
    columns={
        "role_id": "role.id",
        "role_name": "role.name",
        "actor_type": lambda r: _actor(r)[0],
        "user_id": "user.id",
        "user_name": "user.name",
        "group_id": "group.id",
        "group_name": "group.name",
        "scope_type": lambda r: _scope(r)[0],
        "project_id": "scope.project.id",
        "project_name": "scope.project.name",
        "domain_id": "scope.domain.id",
        "domain_name": "scope.domain.name",
        "inherited": _inherited,
    },
    searchable=("role_name", "user_name", "project_name"),
    filterable=FILTERABLE,
    poll_interval=900.0,
    admin_only=True,
)
