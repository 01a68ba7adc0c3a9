"""Any stored object by kind and ID or name: ``get_resource`` and the MCP resources
(``openstack://{cloud}/<kind>/{name_or_id}``) read one row of any synced kind, live or tombstoned,
with its raw object (secrets stripped at sync) fitted to the answer budget."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from app.errors import Conflict, InvalidArgument, NotFound, NotPermitted
from app.resources.registry import all_specs
from app.services.budget import DEFAULT_BUDGET, bounded
from app.services.inventory import raw_of
from app.services.models import SnapshotInfo, clip
from app.services.query import close_matches, live
from app.services.scope import UNRESTRICTED, ProjectScope, condition, scoped_kind

if TYPE_CHECKING:
    from app.context import AppContext


class StoredObject(BaseModel):
    summary: str
    kind: str
    id: str
    name: str | None
    live: bool = Field(description="False if the object is deleted (tombstoned) in the snapshot.")
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    deleted_at: datetime | None
    raw: Any = Field(description="The object as OpenStack returned it (secrets stripped at sync), fitted to the "
                                    "answer budget.")
    clipped: bool = Field(description="True if long values or lists in `raw` were shortened to fit the budget.")
    snapshot: SnapshotInfo


def name_column(kind: str) -> str:
    """The column a kind's objects are named by (``name``, else its first searchable column)."""
    spec = all_specs()[kind]
    return "name" if "name" in spec.table.c else spec.searchable[0]


def find_object(conn: Connection, cloud: str, kind: str, id_or_name: str, scope: ProjectScope = UNRESTRICTED) -> Any:
    """The stored row of ``kind`` with this ID (live or tombstoned) or this exact name (live only), among
    the rows ``scope`` may see. Raises NotFound with close names, Conflict when a name is ambiguous."""
    t = all_specs()[kind].table
    label = t.c[name_column(kind)]
    mine = condition(scope, t, cloud)
    wanted = id_or_name.strip()
    row = conn.execute(select(t).where(t.c.cloud == cloud, t.c.id == wanted, mine)).first()
    if row is not None:
        return row
    rows = conn.execute(select(t).where(live(t, cloud), mine, label == wanted).order_by(t.c.id).limit(11)).all()
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        raise Conflict(f"{len(rows) if len(rows) <= 10 else 'More than 10'} {kind} are named {clip(wanted)}: "
                       "pass one of their IDs: " + ", ".join(r.id for r in rows[:10]) + ".")
    names = conn.execute(select(label).where(live(t, cloud), mine, label.is_not(None)).limit(5000)).scalars().all()
    raise NotFound(f"No {kind} with ID or name {clip(wanted)} in the snapshot"
                   + (" among your projects' rows." if scope.restricted else "."),
                   close_matches(wanted, [str(n) for n in names]))


async def stored_object(app: AppContext, kind: str, id_or_name: str) -> tuple[SnapshotInfo, Any]:
    """:func:`find_object` (among the rows the call's caller may see) and the kind's freshness, in one
    read. A project-restricted caller may read only kinds whose rows belong to projects."""
    if app.scope.restricted and not scoped_kind(all_specs()[kind].table):
        raise NotPermitted(f"{kind} rows do not belong to projects, and this token restricts its caller to "
                           "projects: use a token without that claim, or ask the operator.")
    return await app.read([kind], lambda conn, snap: (snap, find_object(conn, app.cloud_name, kind, id_or_name,
                                                                        app.scope)), wait=False)


async def get_resource(app: AppContext, kind: str, id_or_name: str, budget: int = DEFAULT_BUDGET - 2048) -> StoredObject:
    specs = all_specs()
    if kind not in specs:
        raise InvalidArgument(f"Unknown kind {clip(kind)}. Known kinds: {', '.join(specs)}.")
    if not id_or_name.strip():
        raise InvalidArgument("id_or_name is empty: pass an ID or an exact name.")
    snap, row = await stored_object(app, kind, id_or_name)
    name = getattr(row, name_column(kind), None)
    obj, clipped = bounded(raw_of(row) or {}, budget)
    state = "live" if row.deleted_at is None else f"deleted (tombstoned {row.deleted_at:%Y-%m-%d %H:%M} UTC)"
    summary = (f"{specs[kind].description}: {name or row.id} ({row.id}), {state}; last seen "
               f"{row.last_seen_at:%Y-%m-%d %H:%M} UTC." if row.last_seen_at else f"{kind} {row.id}, {state}.")
    if clipped:
        summary += " Long values were clipped to fit the answer budget."
    return StoredObject(summary=summary, kind=kind, id=row.id, name=None if name is None else str(name),
                        live=row.deleted_at is None, first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at,
                        deleted_at=row.deleted_at, raw=obj, clipped=clipped, snapshot=snap)
