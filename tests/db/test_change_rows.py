"""Change-log rows as answer rows, built once (app/services/change_rows.py): the memo serves a row it
built before, and an id handed out again after a purge (SQLite reuses rowids above the highest left)
is read afresh, never answered with the purged row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select

from app.db.bookkeeping import snapshot_changes as t
from app.db.engine import Database
from app.services import change_rows

T0 = datetime(2026, 11, 30, 9, 0)


def change(i: int, at: datetime, status: str) -> dict[str, Any]:
    return {"id": i, "cloud": "c1", "kind": "servers", "resource_id": f"vm-{i}", "change": "changed", "at": at,
            "name": f"web-{i}", "project_id": "p1", "before": {"status": "ACTIVE"}, "after": {"status": status}}


def page(db: Database) -> Any:
    def read(conn: Connection) -> list[change_rows.ChangeRow]:
        keys = conn.execute(select(t.c.id, t.c.at).where(t.c.cloud == "c1").order_by(t.c.at.desc(), t.c.id.desc())).all()
        return change_rows.rows_of(conn, db, "c1", keys)
    return db.read(read)


async def test_rows_are_built_once_and_a_reused_id_is_read_afresh(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with db.writer() as conn:
        await conn.execute(insert(t), [change(1, T0, "ERROR"), change(2, T0 + timedelta(seconds=1), "SHUTOFF")])
    rows = await page(db)
    assert [(r.id, r.after) for r in rows] == [("vm-2", {"status": "SHUTOFF"}), ("vm-1", {"status": "ERROR"})]
    assert all(r.at.tzinfo is not None for r in rows)

    built: list[int] = []
    real = change_rows._build
    monkeypatch.setattr(change_rows, "_build", lambda r: built.append(r.id) or real(r))
    again = await page(db)
    assert again == rows and built == []  # served from the memo

    # every row purged, then the same ids written again with other times and values
    async with db.writer() as conn:
        await conn.execute(delete(t))
        await conn.execute(insert(t), [change(1, T0 + timedelta(hours=2), "DELETED"),
                                       change(2, T0 + timedelta(hours=3), "ACTIVE")])
    fresh = await page(db)
    assert [(r.id, r.after, r.at.replace(tzinfo=None)) for r in fresh] == [
        ("vm-2", {"status": "ACTIVE"}, T0 + timedelta(hours=3)),
        ("vm-1", {"status": "DELETED"}, T0 + timedelta(hours=2))]
    assert sorted(built) == [1, 2]


async def test_the_memo_is_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(change_rows, "MEMO_ROWS", 5)
    async with db.writer() as conn:
        await conn.execute(insert(t), [change(i, T0 + timedelta(seconds=i), "ERROR") for i in range(1, 13)])
    rows = await page(db)
    assert [r.id for r in rows] == [f"vm-{i}" for i in range(12, 0, -1)]
    assert len(change_rows._memo(db).rows) == 5
