"""Heat stacks (``/stacks?global_tenant=True``; the orchestration endpoint already ends in
``/v1/<project>``). Heat lists without next links, so the listing is not paginated.

Parameters: Heat masks only the values of parameters the template marks ``hidden``; any other value
(an ``api_secret`` the author forgot to hide) comes back in clear from ``GET /stacks/{id}``. The
snapshot keeps parameter *names* only (``raw.parameter_names``), never values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, String, Text

from app.resources._common import cloud_indexes, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("name", "status", "action", "project_id", "parent_id", "created_at", "updated_at")

table = snapshot_table(
    "stacks",
    Column("name", String(255), doc="stack_name."),
    Column("status", String(32), doc="stack_status, e.g. CREATE_COMPLETE, UPDATE_FAILED."),
    Column("action", String(16), doc="The action part of stack_status: CREATE, UPDATE, DELETE, ..."),
    Column("status_reason", Text, doc="stack_status_reason."),
    Column("project_id", String(64), doc="project: owning project (global_tenant listing)."),
    Column("owner", String(255), doc="stack_owner."),
    Column("parent_id", String(64), doc="parent: id of the parent stack for nested stacks."),
    Column("created_at", DateTime, doc="creation_time (UTC)."),
    Column("updated_at", DateTime, doc="updated_time (UTC)."),
    *cloud_indexes("stacks", *FILTERABLE),
    doc="Heat stacks of every project. Tags in raw.tags.",
)


def _action(raw: dict) -> str | None:
    status = raw.get("stack_status") or ""
    return status.split("_", 1)[0] if "_" in status else None


def parameter_names(raw: dict[str, Any]) -> list[str]:
    """Names of the stack's parameters (values are never kept: see the module docstring)."""
    params = raw.get("parameters")
    return sorted(str(k) for k in params) if isinstance(params, dict) else []


class StackSpec(ResourceSpec):
    """The stacks spec: ``parameters`` (name -> value) is stored as ``parameter_names``."""

    def clean_raw(self, raw: dict[str, Any]) -> dict[str, Any]:
        clean = super().clean_raw(raw)
        if "parameters" in raw:
            clean.pop("parameters", None)
            clean["parameter_names"] = parameter_names(raw)
        return clean


SPEC = StackSpec(
    kind="stacks",
    table=table,
    description="Heat stacks of every project",
    listing=Listing(service="orchestration", path="/stacks", collection="stacks",
                    params={"global_tenant": "True"}, paginated=False,
                    # Heat's default policy denies stacks:global_index to everybody (even admin):
                    # fall back to the project's own stacks rather than having none.
                    forbidden_fallback={}),
    get_path="/stacks/{id}",
    get_key="stack",
    columns={
        "name": "stack_name",
        "status": "stack_status",
        "action": _action,
        "status_reason": "stack_status_reason",
        "project_id": text("project"),
        "owner": "stack_owner",
        "parent_id": "parent",
        "created_at": ts("creation_time"),
        "updated_at": ts("updated_time"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=300.0,
    admin_only=True,
    # Heat's GET by id still answers for a deleted stack (its list does not): that stack is gone.
    gone=lambda raw: raw.get("stack_status") == "DELETE_COMPLETE",
)
