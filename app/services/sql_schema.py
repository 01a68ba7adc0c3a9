"""What the SQL tool (:mod:`app.services.sql_tool`) may read, and its description (``describe_snapshot``,
from the same metadata that generates docs/schema.md): the snapshot tables, their link tables, the run
history, the change log and the reporting views."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import Table, text

from app.errors import NotFound
from app.services.budget import clip_text
from app.services.models import clip
from app.services.query import close_matches

if TYPE_CHECKING:
    from app.context import AppContext

BOOKKEEPING_READABLE = ("sync_runs", "sync_state", "snapshot_changes")


@functools.cache
def readable_tables() -> dict[str, Table]:
    """name -> Table for every table a query may read (snapshot kinds, their link tables, run history,
    the change log)."""
    from app.db.meta import metadata
    from app.resources.registry import all_specs, load_all_tables

    load_all_tables()
    out: dict[str, Table] = {}
    for spec in all_specs().values():
        out[spec.table.name] = spec.table
        for child in spec.children:
            out[child.table.name] = child.table
    for name in BOOKKEEPING_READABLE:
        out[name] = metadata.tables[name]
    return out


@functools.cache
def views(dialect: str) -> dict[str, tuple[str, str]]:
    """view name -> (description, SQL) as the migrations define it (app/db/schemadoc.py)."""
    from app.db.schemadoc import collect_views

    return collect_views("postgresql" if dialect == "postgresql" else "sqlite")


def readable_names(dialect: str) -> frozenset[str]:
    return frozenset(readable_tables()) | frozenset(views(dialect))


class ColumnInfo(BaseModel):
    name: str
    type: str | None = Field(description="SQL type (null for view columns).")
    description: str | None = None


class TableInfo(BaseModel):
    name: str
    kind: str = Field(description="snapshot table, link table, bookkeeping table or view.")
    description: str
    columns: list[ColumnInfo] | None = Field(default=None, description="Only when one table is asked for.")
    indexes: list[str] | None = Field(default=None, description="Only when one table is asked for.")
    sql: str | None = Field(default=None, description="A view's SQL (only when that view is asked for).")


class SchemaDescription(BaseModel):
    summary: str
    dialect: str = Field(description="sqlite or postgresql: the SQL dialect queries are written in.")
    sql_tool_enabled: bool = Field(description="Whether query_snapshot is offered on this server.")
    tables: list[TableInfo]
    conventions: list[str]


CONVENTIONS = [
    "Every row has `cloud` (the cloud label) and `id`; filter live rows with `deleted_at IS NULL`.",
    "`raw` is the API object as JSON (secrets stripped): SQLite json_extract(raw, '$.key'), PostgreSQL raw->>'key'.",
    "Times are naive UTC. Link tables (server_addresses, port_fixed_ips, ...) join on <parent>_id.",
    "Views (v_*) show live rows only and join names for common reports.",
]


def _table_kind(t: Table) -> str:
    if t.info.get("snapshot"):
        return "snapshot table"
    if t.info.get("parent"):
        return f"link table (rows of a {t.info['parent']})"
    return "bookkeeping table"


async def describe_snapshot(app: AppContext, table: str | None) -> SchemaDescription:
    dialect = app.db.dialect_name
    enabled = bool(getattr(app.settings, "sql_tool_enabled", False))
    name = (table or "").strip()
    if name in views(dialect):  # its columns are read from the database
        return await _describe_view(app, dialect, enabled, name)
    return _describe(dialect, enabled, name)  # the tables' schema is the code's: described once


async def _describe_view(app: AppContext, dialect: str, enabled: bool, name: str) -> SchemaDescription:
    doc, sql = views(dialect)[name]
    keys = await app.db.read(lambda conn: list(conn.execute(text(f'SELECT * FROM "{name}" LIMIT 0')).keys()))
    info = TableInfo(name=name, kind="view", description=doc, columns=[ColumnInfo(name=k, type=None) for k in keys],
                     sql=clip_text(sql, 4000))
    return _described(dialect, enabled, name, info)


@functools.cache
def _describe(dialect: str, enabled: bool, name: str) -> SchemaDescription:
    tables = readable_tables()
    vs = views(dialect)
    if not name:
        items = [TableInfo(name=n, kind=_table_kind(t), description=clip_text(t.info.get("doc") or t.comment or "", 160))
                 for n, t in sorted(tables.items())]
        items += [TableInfo(name=n, kind="view", description=clip_text(doc, 160)) for n, (doc, _sql) in sorted(vs.items())]
        summary = (f"{len(tables)} tables and {len(vs)} views ({dialect}). Call describe_snapshot(table=...) for "
                   "one's columns." + (" query_snapshot runs read-only SELECTs over them." if enabled else
                                       " query_snapshot is disabled on this server (OPS_SQL_TOOL_ENABLED=false)."))
        return SchemaDescription(summary=summary, dialect=dialect, sql_tool_enabled=enabled, tables=items,
                                 conventions=CONVENTIONS)
    if name in tables:
        t = tables[name]
        from app.db.schemadoc import _type

        cols = [ColumnInfo(name=c.name, type=_type(c), description=c.doc) for c in t.c]
        idx = sorted(f"{i.name} ({', '.join(c.name for c in i.columns)})" for i in t.indexes)
        info = TableInfo(name=name, kind=_table_kind(t), description=t.info.get("doc") or t.comment or "",
                         columns=cols, indexes=idx)
    else:
        known = sorted(tables) + sorted(vs)
        raise NotFound(f"No table or view {clip(name)} in the snapshot (call describe_snapshot without a table to "
                       "list them).", close_matches(name, known))
    return _described(dialect, enabled, name, info)


def _described(dialect: str, enabled: bool, name: str, info: TableInfo) -> SchemaDescription:
    return SchemaDescription(summary=f"{info.kind} {name}: {len(info.columns or [])} columns. {info.description[:200]}",
                             dialect=dialect, sql_tool_enabled=enabled, tables=[info], conventions=CONVENTIONS)
