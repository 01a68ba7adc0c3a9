"""The projects a caller may see (:class:`ProjectScope`), carried by the :class:`AppContext` view the
tool layer hands to services (app/tools/base.py binds it from the OAuth caller's projects claim), and
the SQL condition that restricts a kind's rows to them (:func:`visible`), part of every statement.

Visibility follows OpenStack's default policies: a project sees the rows it owns; also networks that
are shared or external (Neutron), images that are public or community (Glance), public flavors (Nova).
Projects in the claim may be names or IDs: :func:`resolve` maps them to IDs through the synced
``projects`` table; an entry naming no project matches nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Table, false, or_, select, true

from app.resources.registry import get_spec
from app.services.query import live

if TYPE_CHECKING:
    from app.context import AppContext


@dataclass(frozen=True)
class ProjectScope:
    """``projects``: the project IDs a caller may see; None: every project (not restricted).
    ``claimed``: the entries of the token's claim, as sent (names or IDs), for messages."""

    projects: frozenset[str] | None = None
    claimed: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        return self.projects is not None

    def key(self) -> tuple[str, ...] | None:
        """A hashable cache-key part: None when unrestricted, else the sorted project IDs."""
        return None if self.projects is None else tuple(sorted(self.projects))

    def owns(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """``column`` (a project ID) is one of the scope's projects (``true()`` when unrestricted)."""
        if self.projects is None:
            return true()
        return column.in_(sorted(self.projects)) if self.projects else false()

    def allows(self, project_id: str | None) -> bool:
        return self.projects is None or (project_id is not None and project_id in self.projects)


UNRESTRICTED = ProjectScope()

# Kinds every project may also see rows of beyond its own: column -> values (OpenStack's default policy).
_ALSO_VISIBLE: dict[str, tuple[tuple[str, tuple[object, ...]], ...]] = {
    "networks": (("is_shared", (True,)), ("is_external", (True,))),
    "images": (("visibility", ("public", "community")),),
}
# Kinds without a project_id column that are still per project: the column naming the project.
_PROJECT_COLUMN = {"projects": "id", "project_quotas": "id"}
# Catalog kinds visible to every project, restricted to their public rows.
_PUBLIC_ONLY = {"flavors": "is_public", "volume_types": "is_public"}


def scoped_kind(table: Table) -> bool:
    """Whether ``table``'s rows belong to projects (so a restricted caller sees only some of them)."""
    return "project_id" in table.c or table.name in _PROJECT_COLUMN or table.name in _PUBLIC_ONLY


def condition(scope: ProjectScope, table: Table, cloud: str) -> ColumnElement[bool]:
    """The rows of ``table`` (in ``cloud``) ``scope`` may see: ``true()`` when unrestricted or the kind is
    not per project (tools over such kinds are refused to restricted callers, app/auth/projects.py)."""
    if scope.projects is None:
        return true()
    if table.name in _PUBLIC_ONLY:
        return table.c[_PUBLIC_ONLY[table.name]].is_(True)
    column = _PROJECT_COLUMN.get(table.name, "project_id")
    if column not in table.c:
        return true()
    own = scope.owns(table.c[column])
    extra = [table.c[c].in_(values) for c, values in _ALSO_VISIBLE.get(table.name, ())]
    if table.name == "subnets":  # the subnets of the networks every project sees
        extra.append(table.c.network_id.in_(select(_networks().c.id).where(
            live(_networks(), cloud), condition(ProjectScope(frozenset()), _networks(), cloud))))
    return or_(own, *extra) if extra else own


def _networks() -> Table:
    return get_spec("networks").table


def restrict(app: AppContext, table: Table) -> ColumnElement[bool]:
    """The call's caller's part of :func:`visible` alone (``true()`` when unrestricted), to add to a
    statement that already selects live rows."""
    return condition(app.scope, table, app.cloud_name)


def visible(app: AppContext, table: Table) -> ColumnElement[bool]:
    """Live rows of ``table`` in the call's cloud that the call's caller may see."""
    cond = live(table, app.cloud_name)
    return cond if not app.scope.restricted else cond & restrict(app, table)


def resolve(conn: Connection, cloud: str, claimed: Iterable[str]) -> ProjectScope:
    """The scope of a caller whose claim lists ``claimed`` (project names or IDs): the IDs of the live
    projects of ``cloud`` whose ID or name is one of them."""
    entries = tuple(dict.fromkeys(str(c).strip() for c in claimed if str(c).strip()))
    if not entries:
        return ProjectScope(frozenset(), ())
    p = get_spec("projects").table
    rows = conn.execute(select(p.c.id).where(live(p, cloud), or_(p.c.id.in_(entries), p.c.name.in_(entries))))
    return ProjectScope(frozenset(r for (r,) in rows), entries)


async def scope_for(app: AppContext, claimed: Iterable[str]) -> ProjectScope:
    """:func:`resolve` in one read of the call's cloud."""
    return await app.db.read(resolve, app.cloud_name, list(claimed))


async def restricted_to(view: AppContext, claimed: Iterable[str] | None) -> AppContext:
    """``view`` carrying the scope of a caller whose projects claim lists ``claimed`` (None: no claim,
    ``view`` itself): what a request's handler passes to services."""
    if claimed is None:
        return view
    return dataclasses.replace(view, scope=await scope_for(view, claimed))
