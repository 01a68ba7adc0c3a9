"""The read executor (app/db/readpath.py): one worker-thread call per read, one snapshot per read,
read-only connections; on SQLite (sqlite3) and PostgreSQL (psycopg 3), whichever backend runs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from app.db.engine import Database
from app.db.readpath import ReadExecutor, sync_read_url
from app.resources.projects import table as projects
from tests import backend

NOW = datetime(2026, 1, 1, 12, 0)


async def add_project(db: Database, pid: str) -> None:
    async with db.writer() as conn:
        await conn.execute(insert(projects).values(cloud="c1", id=pid, name=pid, raw={}, first_seen_at=NOW,
                                                   last_seen_at=NOW, last_sync_id=1))


def count_projects(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(projects).where(projects.c.cloud == "c1")).scalar_one())


def test_sync_urls() -> None:
    ro = sync_read_url("sqlite+aiosqlite:////var/lib/ops/snapshot.db")
    assert ro.drivername == "sqlite+pysqlite" and ro.database == "file:/var/lib/ops/snapshot.db"
    assert dict(ro.query) == {"mode": "ro", "uri": "true"}
    pg = sync_read_url("postgresql+asyncpg://ops:pw@db:5432/ops")
    assert pg.drivername == "postgresql+psycopg" and pg.database == "ops" and pg.host == "db"


async def test_one_submission_per_read_with_its_args(db: Database) -> None:
    await add_project(db, "p1")
    seen: list[Any] = []
    db.read_executor.on_submit = seen.append
    before = db.read_executor.calls

    def three_statements(conn: Connection, extra: int) -> int:
        return count_projects(conn) + count_projects(conn) + count_projects(conn) + extra

    assert await db.read(three_statements, 10) == 13
    assert db.read_executor.calls - before == 1 and seen == [three_statements]


async def test_a_write_between_two_statements_is_not_half_seen(db: Database) -> None:
    """The writer commits a row while a read is between its two statements (forced with the loop's
    own coroutine, awaited from the worker thread): the read's second statement still sees the
    snapshot of its first, and the next read sees the row."""
    await add_project(db, "p1")
    loop = asyncio.get_running_loop()

    def read_around_a_write(conn: Connection) -> tuple[int, int]:
        first = count_projects(conn)
        asyncio.run_coroutine_threadsafe(add_project(db, "p2"), loop).result(timeout=60)
        return first, count_projects(conn)

    assert await db.read(read_around_a_write) == (1, 1)
    assert await db.read(count_projects) == 2


@pytest.mark.parametrize("way", ["read", "read_one"])
async def test_the_read_connection_refuses_writes(db: Database, way: str) -> None:
    """Both ways: read_one runs in autocommit on PostgreSQL, where only the session's
    default_transaction_read_only (not the driver's flag) keeps it read-only."""
    def write(conn: Connection) -> None:
        conn.execute(insert(projects).values(cloud="c1", id="px", name="px", raw={}, first_seen_at=NOW,
                                             last_seen_at=NOW, last_sync_id=1))

    with pytest.raises(DBAPIError, match="(?i)read-?only"):
        await getattr(db, way)(write)
    assert await getattr(db, way)(count_projects) == 0  # the connection is still usable afterwards
    await add_project(db, "p1")
    assert await db.read_one(count_projects) == 1  # and sees what was committed since


async def test_errors_raised_by_fn_reach_the_caller_and_the_connection_recovers(db: Database) -> None:
    def fails(conn: Connection) -> None:
        conn.execute(text("SELECT 1")).scalar_one()
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        await db.read(fails)
    await add_project(db, "p1")
    assert await db.read(count_projects) == 1


async def test_concurrent_reads_use_their_own_connections(db: Database) -> None:
    """Both ways at once: on PostgreSQL each worker thread holds a transaction connection and an
    autocommit one, and the pool has room for both (it once had one per thread: read_one hung)."""
    await add_project(db, "p1")
    got = await asyncio.gather(*(db.read(count_projects) if i % 2 else db.read_one(count_projects)
                                 for i in range(12)))
    assert got == [1] * 12
    assert await asyncio.wait_for(db.read(count_projects), timeout=60) == 1


async def test_a_one_statement_read_on_sqlite_stays_on_the_loop_and_a_lock_sends_it_to_a_thread(tmp_path: Path) -> None:
    """SQLite's run_one reads on the event loop's thread (no hop: ``calls`` unchanged) with busy_timeout
    0; while another connection holds the file locked, it does not block the loop: it goes to a worker
    thread that waits for the lock (``calls`` counts that one), and answers once the lock is gone."""
    if backend.POSTGRES:
        pytest.skip("SQLite's inline read; PostgreSQL's run_one is the autocommit test above")
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.executescript("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.executescript("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);")
    ex = ReadExecutor(backend.sqlite_url(path), busy_timeout_ms=120_000, json_serializer=json.dumps)

    def count(conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

    try:
        read = asyncio.create_task(ex.run_one(count))
        for _ in range(6000):  # the state: the read went to a worker thread, where it waits for the lock
            await asyncio.sleep(0.01)
            if ex.calls:
                break
        assert (ex.calls, ex.inline, read.done()) == (1, 0, False)
        holder.execute("COMMIT")
        holder.close()
        assert await asyncio.wait_for(read, timeout=120) == 2
        assert await ex.run_one(count) == 2 and (ex.calls, ex.inline) == (1, 1)
    finally:
        ex.close()
