"""Keystone projects (``/projects``, relative to the versioned identity endpoint)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Text, String

from app.resources._common import boolean, cloud_indexes
from app.resources.base import Listing, ResourceSpec, snapshot_table

table = snapshot_table(
    "projects",
    Column("name", String(255), doc="Project name (unique per domain)."),
    Column("domain_id", String(64), doc="Owning domain."),
    Column("parent_id", String(64), doc="Parent project (or the domain for top-level projects)."),
    Column("enabled", Boolean, doc="Enabled."),
    Column("is_domain", Boolean, doc="Acts as a domain."),
    Column("description", Text, doc="Description."),
    *cloud_indexes("projects", "name", "domain_id", "parent_id", "enabled"),
    doc="Keystone projects. Tags in raw.tags.",
)

SPEC = ResourceSpec(
    kind="projects",
    table=table,
    description="Keystone projects",
    listing=Listing(service="identity", path="/projects", collection="projects", paginated=False),
    get_path="/projects/{id}",
    get_key="project",
    columns={
        "name": "name",
        "domain_id": "domain_id",
        "parent_id": "parent_id",
        "enabled": boolean("enabled"),
        "is_domain": boolean("is_domain"),
        "description": lambda r: r.get("description") or None,
    },
    searchable=("name",),
    filterable=("name", "domain_id", "parent_id", "enabled"),
    poll_interval=600.0,
    admin_only=True,
)
