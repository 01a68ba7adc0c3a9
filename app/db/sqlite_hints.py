"""Make SQLAlchemy render table hints on SQLite: ``stmt.with_hint(t, "INDEXED BY ix_name", "sqlite")``
becomes ``FROM t INDEXED BY ix_name``.

SQLAlchemy's SQLite compiler silently drops FROM hints (only MySQL/Oracle/MSSQL render them), so a
hint written for SQLite did nothing. ``INDEXED BY`` is how a read pins a lookup to the index that fits
it where the planner, with statistics, would rather walk the index of the ORDER BY column over every
row of the cloud (e.g. a page's link rows: 200 ids IN, ordered by another column). If the named index
cannot serve the query, SQLite refuses to prepare it: a wrong hint fails loudly, never silently slow.
Imported by :mod:`app.db.engine`, so every engine the app creates has it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.sqlite.base import SQLiteCompiler


def _from_hint_text(self: SQLiteCompiler, table: Any, text: str | None) -> str | None:
    return text


SQLiteCompiler.get_from_hint_text = _from_hint_text  # type: ignore[method-assign]
