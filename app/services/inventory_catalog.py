"""Catalog-like inventory views: Glance images, Heat stacks and Nova keypairs (fingerprints only,
never key material)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.services.inventory import Ref, View, eq_ci, list_view, status_project_filters
from app.services.query import like_escape

if TYPE_CHECKING:
    from app.context import AppContext

PROJECT = Ref("project_id", "projects")

IMAGES = View(
    kind="images", model_name="Image", items_field="images",
    items_doc="This window of images, ordered by name then id.",
    refs=(PROJECT,),
)


async def image_list(app: AppContext, *, limit: int, offset: int, status: str | None, visibility: str | None,
                     project: str | None, name: str | None) -> Any:
    c = IMAGES.table.c
    where = status_project_filters(app, IMAGES.table, status, project)
    if visibility:
        where.append(eq_ci(c.visibility, visibility))
    return await list_view(app, IMAGES, limit=limit, offset=offset, where=where, name=name)


STACKS = View(
    kind="stacks", model_name="Stack", items_field="stacks",
    items_doc="This window of stacks, ordered by name then id.",
    refs=(PROJECT,),
)


async def stack_list(app: AppContext, *, limit: int, offset: int, status: str | None, project: str | None,
                     name: str | None) -> Any:
    c = STACKS.table.c
    where = []
    if status and status.strip():
        st = status.strip()
        # a whole status (CREATE_FAILED) matches exactly; a bare outcome (FAILED, COMPLETE, IN_PROGRESS)
        # matches any action with that outcome.
        where.append(eq_ci(c.status, st) if "_" in st and st.upper() != "IN_PROGRESS"
                     else c.status.ilike(f"%\\_{like_escape(st)}", escape="\\"))
    where += status_project_filters(app, STACKS.table, project=project)
    return await list_view(app, STACKS, limit=limit, offset=offset, where=where, name=name)


KEYPAIRS = View(
    kind="keypairs", model_name="Keypair", items_field="keypairs",
    items_doc="This window of keypairs, ordered by name. Public fingerprints only, never key material.",
    refs=(Ref("user_id", "users"),),
)


async def keypair_list(app: AppContext, *, limit: int, offset: int, name: str | None) -> Any:
    return await list_view(app, KEYPAIRS, limit=limit, offset=offset, name=name)
