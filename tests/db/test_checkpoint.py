"""WAL checkpoints run on the background checkpointer after commits (app/db/checkpoint.py), not in COMMIT."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from app.db.engine import WRITE_CACHE_KIB, Database
from tests import backend


@backend.sqlite_only
async def test_commits_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        async with db.writer() as conn:
            autockpt = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one()
            cache = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        assert (autockpt, cache) == (BACKSTOP_PAGES, -WRITE_CACHE_KIB)
        assert db.checkpointer is not None
        done = db.checkpointer.checkpoints
        async with db.writer() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500} for _ in range(2000)])
        assert db.checkpointer.wait(done, timeout=60), "no checkpoint after a commit"
        busy, frames, copied = db.checkpointer.last or (1, 0, 0)
        assert busy == 0 and frames > 0 and copied == frames  # no reader held it back: all copied
    finally:
        await db.dispose()
    assert db.checkpointer._thread is None
    db.checkpointer.request()  # after close: nothing starts
    assert db.checkpointer._thread is None


def test_a_failing_checkpoint_is_one_warning_and_the_thread_goes_on(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not an SQLite database file" * 200)
    cp = WalCheckpointer(bad)
    try:
        with caplog.at_level(logging.WARNING, logger="app.db.checkpoint"):
            for n in range(3):
                cp.request()
                assert cp.wait(n, timeout=60)
        warnings = [r for r in caplog.records if "WAL checkpoint" in r.getMessage()]
        assert len(warnings) == 1 and str(bad) in warnings[0].getMessage()
    finally:
        cp.close()
