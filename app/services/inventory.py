"""Generic inventory listing over a kind's snapshot table.

A :class:`View` declares what one list tool returns: the kind, the item/list model names, the
reference columns resolved to names (``project_id`` -> ``project_name``), and an optional ``enrich``
function (sync: it runs inside the page's one read, :meth:`AppContext.read`) adding per-row fields from a few batched queries (one query per page and per join, never
per row). :func:`list_view` does the rest in SQL: live rows of this cloud, validated ``limit``/``offset``,
equality filters on the spec's ``filterable`` columns, an optional substring filter on the name
column, extra ``where`` clauses, ordering by name then id, the total, and the ``snapshot`` block.

Item models are derived from the table's typed columns (each column's ``doc`` becomes the field
description): bookkeeping columns are dropped except ``first_seen_at``/``last_seen_at``, and so are
``raw`` and ``search_text``. Models are built once per view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, create_model
from sqlalchemy import ColumnElement, Connection, Select, Table, func, or_, select

from app.errors import InvalidArgument
from app.resources.registry import get_spec
from app.services.models import PageInfo, SnapshotInfo, schema_bounds
from app.services.kept import kept
from app.services.query import MAX_LIMIT, MAX_OFFSET, check_window, contains, count_of, fetch_page, live, ordered
from app.services.scope import UNRESTRICTED, ProjectScope, condition, visible

if TYPE_CHECKING:
    from app.context import AppContext
    from app.db.engine import Database

HIDDEN_COLUMNS = frozenset({"cloud", "raw", "search_text", "last_sync_id", "deleted_at"})
SEEN_DOCS = {
    "first_seen_at": "When the poller first saw this object (UTC).",
    "last_seen_at": "When a sync last saw this object (UTC).",
}


def live_keyed(table: Table, cloud: str) -> ColumnElement[bool]:
    """:func:`live` for lookups by a selective key (``id IN (...)``, ``network_id IN (...)``). Kept as
    a name for those call sites: since every ``(cloud, column)`` index is a partial index over live
    rows, the plain live predicate lets the key's index serve the lookup (and is required for it)."""
    return live(table, cloud)


@dataclass
class Page:
    """What an ``enrich`` function gets: the read's sync connection, the cloud, the page's rows
    (SQLAlchemy rows of the kind's table) and the kinds the snapshot block reports as never synced."""

    conn: Connection
    cloud: str
    rows: list[Any]
    missing: frozenset[str]
    scope: ProjectScope = UNRESTRICTED  # the caller's projects: every lookup of per-project rows keeps to them

    def mine(self, table: Table) -> ColumnElement[bool]:
        """The rows of ``table`` the caller may see (``true()`` when unrestricted)."""
        return condition(self.scope, table, self.cloud)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.rows]

    def values(self, column: str) -> list[Any]:
        return sorted({getattr(r, column) for r in self.rows if getattr(r, column) is not None})

    def count_by(self, table: Table, column: str, keys: Sequence[Any], kind: str,
                       *where: ColumnElement[bool]) -> dict[Any, int | None]:
        """Live rows of ``table`` (the caller's) per value of ``column`` among ``keys`` (one GROUP BY). If ``kind``
        never synced the counts are unknown: every key maps to None rather than a fake zero."""
        if kind in self.missing:
            return {k: None for k in keys}
        if not keys:
            return {}
        col = table.c[column]
        rows = self.conn.execute(
            select(col, func.count()).where(live_keyed(table, self.cloud), self.mine(table), col.in_(list(keys)), *where)
            .group_by(col)
        ).all()
        counts: dict[Any, int | None] = {k: 0 for k in keys}
        counts.update({k: int(n) for k, n in rows})
        return counts


Enrich = Callable[[Page], list[dict[str, Any]]]


@dataclass(frozen=True)
class Ref:
    """A column holding the id of another kind's row, shown with that row's name as ``<as_name>``
    (default: the column name with ``_id`` replaced by ``_name``)."""

    column: str
    kind: str
    as_name: str | None = None
    label: str = "name"

    @property
    def field_name(self) -> str:
        return self.as_name or (self.column[:-3] if self.column.endswith("_id") else self.column) + "_name"


@dataclass(frozen=True)
class View:
    kind: str
    model_name: str
    items_field: str
    items_doc: str
    refs: tuple[Ref, ...] = ()
    extras: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    enrich: Enrich | None = None
    exclude: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ("name", "id")
    name_column: str | None = "name"
    uses: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        return get_spec(self.kind).table

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        """Plain ``str`` names (SQLAlchemy's are ``quoted_name``: every ``getattr(row, name)`` with one
        went through SQLAlchemy's ``__getattr__``, 1.3-9 ms per page)."""
        hidden = HIDDEN_COLUMNS | set(self.exclude)
        return tuple(str(c.name) for c in self.table.columns if c.name not in hidden)

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys([self.kind, *(r.kind for r in self.refs), *self.uses]))

    @functools.cached_property
    def item_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for name in self.columns:
            col = self.table.c[name]
            try:
                py: Any = col.type.python_type
            except NotImplementedError:
                py = Any
            doc = SEEN_DOCS.get(name) or col.doc or name
            if name == "id":
                fields[name] = (str, Field(description=doc))
            else:
                fields[name] = (py | None, Field(default=None, description=doc))
        for ref in self.refs:
            target = get_spec(ref.kind).description
            fields[ref.field_name] = (str | None, Field(
                default=None, description=f"{ref.label.capitalize()} of {ref.column} ({target}); "
                                          "null if unknown to the snapshot."))
        fields.update(self.extras)
        return create_model(self.model_name, __doc__=get_spec(self.kind).description, **fields)

    @functools.cached_property
    def list_model(self) -> type[PageInfo]:
        return create_model(
            f"{self.model_name}List", __base__=PageInfo,
            **{self.items_field: (list[self.item_model], Field(description=self.items_doc))},  # type: ignore[name-defined]
            snapshot=(SnapshotInfo, Field(description="Freshness of the kinds this answer used.")),
        )


def eq_ci(column: Any, value: str) -> ColumnElement[bool]:
    """Case-insensitive equality for statuses, which OpenStack spells in one case per service
    (Cinder/Glance 'available', Nova/Neutron/Heat 'ACTIVE'): an ``IN`` of the given, lower and upper
    spellings, so the status index still serves it."""
    v = value.strip()
    return column.in_(sorted({v, v.lower(), v.upper()}))


def id_or_name(column: Any, value: str, kind: str, cloud: str, label: str = "name") -> ColumnElement[bool]:
    """``column`` holds ``value`` itself (an id) or the id of a live ``kind`` row whose ``label`` is
    ``value`` (a name): filters like project='web' or project='<uuid>' in one SQL condition."""
    target = get_spec(kind).table
    sub = select(target.c.id).where(live_keyed(target, cloud), target.c[label] == value)
    return or_(column == value, column.in_(sub))


def status_project_filters(app: AppContext, table: Any, status: str | None = None,
                           project: str | None = None) -> list[ColumnElement[bool]]:
    """The filters most listings share: case-insensitive ``status``, ``project`` by id or name."""
    where: list[ColumnElement[bool]] = []
    if status:
        where.append(eq_ci(table.c.status, status))
    if project:
        where.append(id_or_name(table.c.project_id, project.strip(), "projects", app.cloud_name))
    return where


def _ref_columns(cloud: str, view: View, t: Any) -> list[Any]:
    """Each reference as a correlated scalar subquery labelled with its field name: SQLite evaluates
    them for the page's rows only, in the page query itself (no extra round trip per reference)."""
    cols = []
    for ref in view.refs:
        target = get_spec(ref.kind).table.alias(f"ref_{ref.field_name}")
        cols.append(
            select(target.c[ref.label]).where(target.c.cloud == cloud, target.c.deleted_at.is_(None),
                                              target.c.id == t.c[ref.column])
            .limit(1).scalar_subquery().label(ref.field_name)
        )
    return cols


async def list_view(
    app: AppContext,
    view: View,
    *,
    limit: int,
    offset: int,
    filters: Mapping[str, Any] | None = None,
    name: str | None = None,
    case_sensitive: bool = False,
    where: Iterable[ColumnElement[bool]] = (),
) -> Any:
    """One page of ``view`` (an instance of ``view.list_model``). ``filters``: column -> value,
    equality, None values ignored, columns must be in the spec's ``filterable``. ``name``: substring
    of the view's name column."""
    check_window(limit, offset)
    spec = get_spec(view.kind)
    t = spec.table
    conds: list[ColumnElement[bool]] = [visible(app, t), *where]
    for col, value in (filters or {}).items():
        if value is None:
            continue
        if col not in spec.filterable:
            raise InvalidArgument(f"{view.kind} cannot be filtered on {col!r}; "
                                  f"filterable: {', '.join(spec.filterable)}.")
        conds.append(t.c[col] == value)
    if name is not None and name.strip():
        if view.name_column is None:
            raise InvalidArgument(f"{view.kind} have no name to match.")
        conds.append(contains(t.c[view.name_column], name.strip(), case_sensitive))
    stmt = select(t, *_ref_columns(app.cloud_name, view, t)).where(*conds).order_by(
        *ordered(*(t.c[c] for c in view.order_by)))
    # every live row of the kind, for an unrestricted caller: the total depends on the kind alone
    whole = app.db if len(conds) == 1 and not app.scope.restricted else None
    return await app.read(view.kinds, _read_view, view, app.cloud_name, stmt, limit, offset, app.scope, whole)


def _read_view(conn: Connection, snap: SnapshotInfo, view: View, cloud: str, stmt: Select[Any], limit: int,
               offset: int, scope: ProjectScope, whole: Database | None) -> Any:
    """One page of ``view`` with its ``enrich`` fields, in one read (see :meth:`AppContext.read`).
    ``whole``: the statement selects every live row of the kind (no filter, unrestricted caller), so
    its total is kept per the kind's data version (:mod:`app.services.kept`)."""
    if whole is None:
        total, rows = fetch_page(conn, stmt, limit=limit, offset=offset)
    else:
        total = kept(conn, whole, cloud, [view.kind], (view.kind, "count"), lambda: count_of(conn, stmt))
        rows = list(conn.execute(stmt.limit(limit).offset(offset)).all())
    page = Page(conn=conn, cloud=cloud, rows=rows, missing=frozenset(snap.missing), scope=scope)
    extras = view.enrich(page) if view.enrich and rows else [{} for _ in rows]
    cols = view.columns
    ref_fields = [ref.field_name for ref in view.refs]
    items = [view.item_model(**{**{c: getattr(r, c) for c in cols}, **{f: getattr(r, f) for f in ref_fields},
                                **extra})
             for r, extra in zip(rows, extras)]
    return view.list_model(**PageInfo.of(total, len(items), offset, limit).model_dump(),
                           **{view.items_field: items}, snapshot=snap)


def raw_of(row: Any) -> dict[str, Any]:
    raw = getattr(row, "raw", None)
    return raw if isinstance(raw, dict) else {}


def grouped(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    """``[(key, item), ...]`` -> ``{key: [item, ...]}`` preserving order."""
    out: dict[Any, list[Any]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


# Parameter types shared by the inventory tools (so every list tool documents paging the same way).
Limit = Annotated[int, Field(description="Rows per page, 1..200 (out-of-range values are rejected). Answers stay "
                                         "within a size budget: past it fewer rows come back with truncated=true "
                                         "and next_offset.", json_schema_extra=schema_bounds(1, MAX_LIMIT))]
Offset = Annotated[int, Field(description="Rows to skip; the next page is offset + returned (next_offset).",
                              json_schema_extra=schema_bounds(0, MAX_OFFSET))]
NameFilter = Annotated[str | None, Field(description="Only rows whose name contains this text (case-insensitive).")]
ProjectFilter = Annotated[str | None, Field(description="Only this project (exact name or ID).")]
