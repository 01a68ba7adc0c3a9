"""Argument completion from the snapshot (MCP ``completion/complete``): names (and IDs) of live objects
of a kind that match what the user typed so far.

Ranked: the exact name, then names starting with the text (case-sensitive, shortest first), then IDs
starting with it, then names containing it (case-insensitive); at most ``CAP`` values. Every step is
bounded, so it costs about the same at 100,000 rows as at 100:

* the exact and prefix steps are index lookups and range scans of the live-row ``(cloud, name)`` /
  ``(cloud, id)`` indexes (``name >= v AND name < v || U+10FFFF``) in index order, at most
  ``PREFIX_WINDOW`` names, ranked shortest first in Python (ordering the whole range by length would
  sort every name sharing a one-letter prefix);
* the substring step runs only when the prefixes leave room: for instances on SQLite with a term of
  3 characters or more it reads names straight from the FTS5 trigram table (``search_instances'``
  index), stopping at the cap; elsewhere on SQLite it walks the name index in order, which for a term
  matching nothing in a big kind reads the whole index: the slow case, tens of milliseconds at 100,000
  rows (``python -m bench.worker completions`` measures every case). On PostgreSQL the pg_trgm GIN
  index answers ``ILIKE '%term%'`` and the statement has no ORDER BY, so the heap is read only up to the
  cap (ordering the matches by name first read and sorted every one: 4.7 vs 1.5 ms by EXPLAIN ANALYZE
  for a term in 1,000 names of 50,000); the candidates are ranked in Python either way.

The three index steps are ONE statement (``UNION ALL``) and the substring step a second one, each a
one-statement read (:meth:`app.db.engine.Database.read_one`: on SQLite on the event loop's thread, on
PostgreSQL one autocommit round trip). The two may see different snapshots, which a list of suggestions
tolerates (a value both return is listed once).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Integer, Select, bindparam, literal, literal_column, select, true, union_all

from app.resources.registry import all_specs
from app.services.instance_search import FTS_NAME, TRIGRAM, fts, fts_query, has_fts
from app.services.query import like_escape
from app.services.scope import restrict, scoped_kind

if TYPE_CHECKING:
    from app.context import AppContext

CAP = 20
HIGH = "\U0010ffff"
PREFIX_WINDOW = 200  # names sharing a prefix read in index order, then ranked shortest first


def _column(kind: str) -> str:
    spec = all_specs()[kind]
    return "name" if "name" in spec.table.c else spec.searchable[0]


def _arm(n: int, stmt: Select[Any]) -> Select[Any]:
    """One step of the index statement: its values tagged with the step's number (a subquery, so each
    step keeps its own ORDER BY and LIMIT inside the UNION ALL)."""
    sub = stmt.subquery()
    return select(literal(n, Integer).label("arm"), sub.c[0].label("v"))


def _rank(rows: Any, cap: int) -> list[str]:
    """The index steps' values in rank order: the exact name, the prefix window shortest first, then
    IDs in order; each value once."""
    arms: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for arm, v in rows:
        if v is not None:
            arms[arm].append(str(v))
    out: list[str] = []
    for v in [*arms[0], *sorted(arms[1], key=lambda v: (len(v), v))[:cap + 1], *sorted(arms[2])]:
        if v not in out:
            out.append(v)
    return out


@dataclass(frozen=True)
class _Statements:
    """One kind's completion statements, values as bind parameters (``cloud``, ``typed``, ``high``,
    ``pattern``, ``match``): built once, so a call pays no statement building (about 1.5 ms for the
    UNION ALL, against 0.1 ms to run it)."""

    first: Select[Any]  # nothing typed: the first names in order
    indexed: Select[Any]  # exact name, prefix window, ID prefix
    substring: Select[Any]  # names containing the text (ILIKE), in name order: SQLite walks the name index
    substring_any: Select[Any]  # the same in no order: PostgreSQL's pg_trgm bitmap scan stops at the LIMIT
    fts: Select[Any] | None  # the same from the FTS trigram table (servers)


def _build(kind: str, restriction: Any, owns: Any) -> _Statements:
    t = all_specs()[kind].table
    col = t.c[_column(kind)]
    where = (t.c.cloud == bindparam("cloud")) & t.c.deleted_at.is_(None) & restriction
    typed, high = bindparam("typed"), bindparam("high")
    limit = 2 * CAP + 2
    fts_stmt = None
    if kind == "servers":
        fts_stmt = (select(fts.c.name).where(literal_column(FTS_NAME).op("MATCH")(bindparam("match")),
                                            fts.c.cloud == bindparam("cloud"),
                                            fts.c.name.ilike(bindparam("pattern"), escape="\\"),
                                            owns(fts.c.project_id)).limit(limit))
    return _Statements(
        first=select(col).where(where, col.is_not(None)).order_by(col).limit(CAP + 1),
        indexed=union_all(
            _arm(0, select(col).where(where, col == typed).limit(1)),
            _arm(1, select(col).where(where, col >= typed, col < high).order_by(col).limit(PREFIX_WINDOW)),
            _arm(2, select(t.c.id).where(where, t.c.id >= typed, t.c.id < high).order_by(t.c.id).limit(CAP + 1))),
        substring=select(col).where(where, col.ilike(bindparam("pattern"), escape="\\")).order_by(col).limit(limit),
        substring_any=select(col).where(where, col.ilike(bindparam("pattern"), escape="\\")).limit(limit),
        fts=fts_stmt)


@functools.cache
def _unrestricted(kind: str) -> _Statements:
    return _build(kind, true(), lambda _c: true())


async def complete(app: AppContext, kind: str, typed: str) -> tuple[list[str], bool]:
    """Up to :data:`CAP` values for ``typed`` and whether more exist, among the rows the caller may see."""
    t = all_specs()[kind].table
    cap = CAP
    typed = (typed or "")[:255]
    if app.scope.restricted and not scoped_kind(t):
        return [], False  # rows no project owns: nothing to suggest to a project-restricted caller
    stmts = (_build(kind, restrict(app, t), app.scope.owns) if app.scope.restricted else _unrestricted(kind))
    params = {"cloud": app.cloud_name, "typed": typed, "high": typed + HIGH,
              "pattern": f"%{like_escape(typed)}%", "match": fts_query(("name",), typed)}

    if not typed:
        def first(conn: Connection) -> list[str]:
            return [str(v) for v in conn.execute(stmts.first, params).scalars() if v is not None]

        out = await app.db.read_one(first)
        return out[:cap], len(out) > cap

    def indexed(conn: Connection) -> list[str]:
        return _rank(conn.execute(stmts.indexed, params), cap)

    def substring(conn: Connection) -> list[str]:
        stmt = stmts.substring if conn.dialect.name == "sqlite" else stmts.substring_any
        if (stmts.fts is not None and conn.dialect.name == "sqlite" and len(typed) >= TRIGRAM
                and "\x00" not in typed and has_fts(conn)):
            stmt = stmts.fts
        return sorted((str(v) for v in conn.execute(stmt, params).scalars() if v is not None),
                      key=lambda v: (len(v), v))

    out = await app.db.read_one(indexed)
    if len(out) <= cap:
        out += [v for v in await app.db.read_one(substring) if v not in out]
    return out[:cap], len(out) > cap
