"""Argument completion from the snapshot (MCP ``completion/complete``): names (and IDs) of live objects
of a kind that match what the user typed so far.

Ranked: the exact name, then names starting with the text (case-sensitive, shortest first), then IDs
starting with it, then names containing it (case-insensitive); at most ``CAP`` values. Every step is
bounded, so it costs about the same at 100,000 rows as at 100:

* the prefix steps are range scans of the live-row ``(cloud, name)`` / ``(cloud, id)`` indexes
  (``name >= v AND name < v || U+10FFFF``) in index order, at most ``PREFIX_WINDOW`` names, ranked
  shortest first in Python (ordering the whole range by length would sort every name sharing a
  one-letter prefix);
* the substring step runs only when the prefixes leave room: for instances on SQLite with a term of
  3 characters or more it reads names straight from the FTS5 trigram table (``search_instances``'
  index), stopping at the cap; elsewhere it
  walks the name index in order (PostgreSQL's pg_trgm GIN indexes serve ``ILIKE '%term%'``), which for
  a term matching nothing in a big kind reads the whole index: the slow case, tens of milliseconds at
  100,000 rows (``python -m bench.worker completions`` measures every case).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from app.resources.registry import all_specs
from app.services.instance_search import fts_names, has_fts
from app.services.query import contains
from app.services.scope import scoped_kind, visible

if TYPE_CHECKING:
    from app.context import AppContext

CAP = 20
HIGH = "\U0010ffff"
PREFIX_WINDOW = 200  # names sharing a prefix read in index order, then ranked shortest first


def _column(kind: str) -> str:
    spec = all_specs()[kind]
    return "name" if "name" in spec.table.c else spec.searchable[0]


async def complete(app: AppContext, kind: str, typed: str, cap: int = CAP) -> tuple[list[str], bool]:
    """Up to ``cap`` values for ``typed`` and whether more exist, among the rows the caller may see."""
    t = all_specs()[kind].table
    col = t.c[_column(kind)]
    typed = (typed or "")[:255]
    out: list[str] = []

    def add(values: Any) -> None:
        for v in values:
            if v is not None and str(v) not in out:
                out.append(str(v))

    if app.scope.restricted and not scoped_kind(t):
        return [], False  # rows no project owns: nothing to suggest to a project-restricted caller
    where = visible(app, t)

    def values(conn: Connection) -> None:
        if not typed:
            add(conn.execute(select(col).where(where, col.is_not(None)).order_by(col).limit(cap + 1)).scalars())
            return
        add(conn.execute(select(col).where(where, col == typed).limit(1)).scalars())
        prefixed = conn.execute(select(col).where(where, col >= typed, col < typed + HIGH)
                                .order_by(col).limit(PREFIX_WINDOW)).scalars().all()
        add(sorted(prefixed, key=lambda v: (len(v), v))[:cap + 1])
        if len(out) <= cap:
            add(conn.execute(select(t.c.id).where(where, t.c.id >= typed, t.c.id < typed + HIGH)
                             .order_by(t.c.id).limit(cap + 1 - len(out))).scalars())
        if len(out) <= cap:
            add(sorted(conn.execute(substring(conn).limit(2 * cap + 2)).scalars(), key=lambda v: (len(v), v)))

    def substring(conn: Connection) -> Any:
        if kind == "servers" and conn.dialect.name == "sqlite" and has_fts(conn):
            stmt = fts_names(app.cloud_name, typed, app.scope.owns)
            if stmt is not None:
                return stmt
        return select(col).where(where, contains(col, typed, False)).order_by(col)

    await app.db.read(values)
    return out[:cap], len(out) > cap
