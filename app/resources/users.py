"""Keystone users (``/users``; the identity adapter's endpoint is the versioned ``.../v3``). E-mail
and password fields are never stored (``email`` is in SECRET_KEYS)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Text, DateTime, String

from app.resources._common import boolean, cloud_indexes, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

table = snapshot_table(
    "users",
    Column("name", String(255), doc="User name (unique per domain)."),
    Column("domain_id", String(64), doc="Owning domain."),
    Column("enabled", Boolean, doc="Can authenticate."),
    Column("default_project_id", String(64), doc="Default project."),
    Column("description", Text, doc="Description."),
    Column("password_expires_at", DateTime, doc="When the password expires (UTC; NULL = never)."),
    *cloud_indexes("users", "name", "domain_id", "enabled", "default_project_id"),
    doc="Keystone users (no e-mails or password data).",
)

SPEC = ResourceSpec(
    kind="users",
    table=table,
    description="Keystone users",
    listing=Listing(service="identity", path="/users", collection="users", paginated=False),
    get_path="/users/{id}",
    get_key="user",
    columns={
        "name": "name",
        "domain_id": "domain_id",
        "enabled": boolean("enabled"),
        "default_project_id": "default_project_id",
        "description": lambda r: r.get("description") or None,
        "password_expires_at": ts("password_expires_at"),
    },
    searchable=("name",),
    filterable=("name", "domain_id", "enabled", "default_project_id"),
    poll_interval=900.0,
    admin_only=True,
)
