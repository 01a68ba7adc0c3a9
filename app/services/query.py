"""Query helpers shared by every read service: live-row selection, validated pagination windows,
safe substring patterns, close-match suggestions. All filtering, ordering and paging happens in SQL."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, String, Table, bindparam, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.functions import FunctionElement

from app.errors import InvalidArgument

MAX_LIMIT = 200
# SQL binds OFFSET as a signed 64-bit integer: a larger one fails in the driver (OverflowError).
MAX_OFFSET = 2**63 - 1


def check_window(limit: int, offset: int, max_limit: int = MAX_LIMIT) -> None:
    """Limits outside 1..max_limit and negative offsets are rejected (not silently clamped)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= max_limit:
        raise InvalidArgument(f"limit must be an integer between 1 and {max_limit} (got {limit!r}); "
                              "page through larger results with offset.")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset must be a non-negative integer, at most {MAX_OFFSET} (got {offset!r}).")


def live(table: Table, cloud: str) -> ColumnElement[bool]:
    """Rows of this cloud that are not tombstoned."""
    return (table.c.cloud == cloud) & table.c.deleted_at.is_(None)


def like_escape(term: str) -> str:
    """``term`` with LIKE metacharacters escaped (use with ``escape='\\\\'``)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class contains_exactly(FunctionElement[bool]):  # noqa: N801 - SQL-ish construct
    """Case-sensitive substring test: ``instr(col, term) > 0`` on SQLite (whose LIKE folds ASCII case),
    ``col LIKE '%term%'`` elsewhere (case-sensitive on PostgreSQL, and served by pg_trgm GIN indexes)."""

    inherit_cache = True  # untyped on purpose: a Boolean type makes SQLite render "... = 1"


@compiles(contains_exactly)
def _contains_exactly_like(element: contains_exactly, compiler: Any, **kw: Any) -> str:
    column, _term, pattern = element.clauses
    return compiler.process(column.like(pattern, escape="\\"), **kw)  # type: ignore[attr-defined]


@compiles(contains_exactly, "sqlite")
def _contains_exactly_instr(element: contains_exactly, compiler: Any, **kw: Any) -> str:
    column, term, _pattern = element.clauses
    return compiler.process(func.instr(column, term) > 0, **kw)


class utc_text(FunctionElement[str]):  # noqa: N801 - SQL-ish construct
    """A naive-UTC timestamp column as ISO text with whole seconds (``2026-01-31T12:00:05Z``), the same
    on every backend (a plain CAST gives SQLite's stored text, microseconds and all, but PostgreSQL's
    timestamp output, trailing zeros trimmed)."""

    type = String()
    inherit_cache = True


@compiles(utc_text)
def _utc_text_pg(element: utc_text, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


@compiles(utc_text, "sqlite")
def _utc_text_sqlite(element: utc_text, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


def contains(column: Any, term: str, case_sensitive: bool) -> ColumnElement[bool]:
    """Substring match. Case-insensitive: ILIKE (SQLite: LIKE with ASCII case folding). Case-sensitive:
    :class:`contains_exactly` (``instr`` on SQLite, LIKE on PostgreSQL). On PostgreSQL both are
    ``'%term%'`` patterns that the pg_trgm GIN indexes of migration 0009 answer."""
    pattern = f"%{like_escape(term)}%"
    if case_sensitive:
        return contains_exactly(column, bindparam(None, term), bindparam(None, pattern))
    return column.ilike(pattern, escape="\\")


def ordered(*terms: Any) -> list[Any]:
    """ORDER BY terms with the place of NULLs pinned to SQLite's (first ascending, last descending):
    PostgreSQL's default is the opposite, so without this a page over a nullable column would hold
    different rows on the two backends. Columns declared NOT NULL are left as they are (a pinned NULL
    order would keep PostgreSQL from reading them in index order). ``terms``: columns or
    ``col.desc()`` / ``col.asc()``."""
    out = []
    for t in terms:
        if isinstance(t, UnaryExpression) and t.modifier in (operators.desc_op, operators.asc_op):
            col, desc = t.element, t.modifier is operators.desc_op
        else:
            col, desc = t, False
        if getattr(col, "nullable", True) is False:
            out.append(t)
        elif desc:
            out.append(col.desc().nulls_last())
        else:
            out.append(col.asc().nulls_first())
    return out


def fetch_page(conn: Connection, stmt: Select[Any], *, limit: int, offset: int) -> tuple[int, list[Any]]:
    """Total matching rows and one window of ``stmt`` (which must already carry its ORDER BY), on a
    read connection of :meth:`app.db.engine.Database.read`."""
    total = count_of(conn, stmt)
    rows = conn.execute(stmt.limit(limit).offset(offset)).all()
    return total, list(rows)


def count_of(conn: Connection, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` selects."""
    # Counted over the statement's FROM and WHERE only: its columns (fat rows, correlated name
    # lookups) would keep SQLite from answering the count from a covering index.
    only_rows = stmt.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True)
    return int(conn.execute(select(func.count()).select_from(only_rows.subquery())).scalar_one())


def close_matches(term: str, names: Sequence[str], n: int = 5) -> list[str]:
    """Names that look like ``term`` (for not-found errors)."""
    lowered = {name.lower(): name for name in names if name}
    hits = difflib.get_close_matches(term.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def split_csv(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (the original's comma-list parameters)."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def paging_summary(total: int, returned: int, offset: int, what: str) -> str:
    """The first sentence of a paged list's summary: how many match, which window this is, the next offset."""
    if not total:
        return f"No {what} match."
    text = f"{total} {what} match; showing {offset + 1}-{offset + returned}" if returned else \
        f"{total} {what} match; none at offset {offset}"
    if offset + returned < total:
        text += f" (next page: offset={offset + returned})"
    return text + "."


def count_mix(counts: dict[str, int], label: str) -> str:
    """`` Label: A 3, B 1.`` for the (at most 6) largest counts; empty without counts."""
    if not counts:
        return ""
    return f" {label}: " + ", ".join(f"{k} {n}" for k, n in list(counts.items())[:6]) + "."
