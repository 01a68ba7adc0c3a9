"""Engine and sessions: one :class:`Database` per process, built from Settings.

* SQLite (``sqlite+aiosqlite:///path``): WAL journal, ``busy_timeout``, ``foreign_keys=ON`` and
  ``synchronous=NORMAL`` on every connection. Engines sharing the file: a **writer** (one pooled
  connection, transactions opened with ``BEGIN IMMEDIATE`` and serialised by an in-process lock, so
  the poller never meets ``SQLITE_BUSY`` from itself), **readers** (``query_only``), which WAL
  keeps unblocked while the poller writes, and a **lease** connection for the poller lease, which
  never queues behind the writer's lock (a renewal waits at most for one short write transaction).
  WAL checkpoints run on a background thread after commits, not inside them (app/db/checkpoint.py).
  Write transactions are short and bounded: at most ``WRITE_BATCH`` rows each (app/db/writer.py).
* PostgreSQL (``postgresql+asyncpg://...``): one ordinary engine serves every role.
* Request-path reads: :meth:`Database.read` runs a sync function with all of a read's statements in
  one worker-thread call, one read-only snapshot transaction (:mod:`app.db.readpath`; SQLite through
  ``sqlite3``, PostgreSQL through psycopg 3).

A write that times out waiting for the database's write lock (another process holds it, e.g. one
stopped with SIGSTOP mid-transaction) sets :attr:`Database.writer_blocked_since` until a write
succeeds again; readiness and ``get_sync_status`` report it.

JSON is serialised canonically (sorted keys, compact), so the writer can compare a row's stored raw
text with a freshly listed object without decoding it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

import app.db.sqlite_hints  # noqa: F401  (SQLite renders INDEXED BY hints)
from app import jsonio
from app.config import Settings
from app.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from app.db.fence import Fence
from app.db.readpath import ReadExecutor

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# Page cache of the snapshot writer (SQLite's default is 2 MiB): a batch of 1,000 changed servers
# touches thousands of index pages; with the default cache the whole-row upsert of a 1 % incremental at
# 100,000 re-read and spilled pages mid-transaction (0.70 s; 0.48 s with 64 MiB). Since changed rows are
# updated in their differing columns only (app/db/writer.py), 16 MiB does as well as 64 MiB (1.87-2.08 s
# vs 1.89-2.50 s for the whole incremental) for 48 MB less resident memory during a full sync.
WRITE_CACHE_KIB = 16_384
R = TypeVar("R")


def utcnow() -> datetime:
    """Naive UTC 'now' (every DateTime column in the snapshot is naive UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class PreSerialized(str):
    """JSON text already in canonical form; the engine's serializer passes it through unchanged."""


# orjson's form of the stdlib's json.dumps(sort_keys, compact, ensure_ascii=False, default=str), ~8x
# faster (a full sync serialises every object it lists): datetimes, dataclasses and anything else
# orjson does not know go through ``str`` as before.
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_json(obj: Any) -> str:
    """The one JSON text form stored in ``raw`` columns (and compared by the writer)."""
    if isinstance(obj, PreSerialized):
        return str(obj)
    try:
        return orjson.dumps(obj, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # what orjson refuses (keys that are not strings, integers beyond 64 bits): the stdlib
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sqlite_pragmas(read_only: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS, cache_kib: int | None = None) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver: we emit BEGIN ourselves (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        else:  # checkpoints run on the background checkpointer (app/db/checkpoint.py), not in COMMIT
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        if cache_kib is not None:
            cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        cur.close()

    return on_connect


def is_lock_timeout(err: BaseException) -> bool:
    """SQLite's busy timeout ran out: another connection holds the write lock."""
    return isinstance(err, OperationalError) and "database is locked" in str(err.orig or err)


def _begin(statement: str) -> Any:
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return on_begin


def dialect_insert(dialect: str, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_update/do_nothing`` for the engine's dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def is_sqlite_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for memory databases and other backends)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


class Database:
    """The process's database handle: ``writer()`` for the one writer, ``reader()`` / ``session()``
    for reads. Build with :meth:`from_settings`; ``await db.dispose()`` at shutdown."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self.is_sqlite = is_sqlite_url(url)
        self._write_lock = asyncio.Lock()
        self.writer_blocked_since: datetime | None = None
        common: dict[str, Any] = {"echo": echo, "json_serializer": canonical_json, "json_deserializer": jsonio.loads}
        if self.is_sqlite:
            self.write_engine: AsyncEngine = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=60, **common
            )
            self.read_engine: AsyncEngine = create_async_engine(url, pool_size=8, max_overflow=8, **common)
            event.listen(self.write_engine.sync_engine, "connect",
                         _sqlite_pragmas(False, busy_timeout_ms, WRITE_CACHE_KIB))
            event.listen(self.write_engine.sync_engine, "begin", _begin("BEGIN IMMEDIATE"))
            event.listen(self.read_engine.sync_engine, "connect", _sqlite_pragmas(True, busy_timeout_ms))
            event.listen(self.read_engine.sync_engine, "begin", _begin("BEGIN"))
            self.lease_engine: AsyncEngine = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=60, **common
            )
            event.listen(self.lease_engine.sync_engine, "connect", _sqlite_pragmas(False, busy_timeout_ms))
            event.listen(self.lease_engine.sync_engine, "begin", _begin("BEGIN IMMEDIATE"))
        else:
            self.write_engine = create_async_engine(url, pool_pre_ping=True, **common)
            self.read_engine = self.write_engine
            self.lease_engine = self.write_engine
        path = sqlite_path(url) if self.is_sqlite else None
        self.checkpointer: WalCheckpointer | None = WalCheckpointer(path) if path is not None else None
        self._sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._read_executor: ReadExecutor | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url)

    @property
    def dialect_name(self) -> str:
        return self.write_engine.dialect.name

    @asynccontextmanager
    async def writer(self, fence: Fence | None = None) -> AsyncIterator[AsyncConnection]:
        """One short write transaction (committed on exit, rolled back on error).

        With a ``fence`` (a poller run's lease), the transaction first checks and extends the lease and
        raises :class:`~app.db.fence.LeaseLost` (writing nothing) when another process holds it."""
        async with self._write_lock:
            asked = utcnow()
            try:
                async with self.write_engine.begin() as conn:
                    if fence is not None:
                        await fence.check(conn, utcnow())
                    yield conn
                if self.checkpointer is not None:
                    self.checkpointer.request()
            except OperationalError as e:
                if is_lock_timeout(e) and self.writer_blocked_since is None:
                    self.writer_blocked_since = asked
                    log.warning("database write lock not obtained within %.1f s (another process holds it)",
                                self.busy_timeout_ms / 1000)
                raise
            if self.writer_blocked_since is not None:
                log.info("database writes go through again (blocked since %s)", self.writer_blocked_since)
                self.writer_blocked_since = None

    @asynccontextmanager
    async def lease_writer(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for the poller lease only: its own connection, never queued behind the
        snapshot writer's in-process lock, so renewal cannot starve behind sync writes."""
        async with self.lease_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (a snapshot-consistent transaction for its lifetime)."""
        async with self.read_engine.connect() as conn:
            yield conn

    async def read(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(conn, *args)``, a *sync* function, in ONE worker-thread call on that thread's read
        connection, inside one snapshot-consistent read-only transaction (:mod:`app.db.readpath`).
        Prefer this to :meth:`reader` for anything on a request path: a reader pays a thread hop per
        statement, this one per read."""
        return await self.read_executor.run(fn, *args)

    async def read_one(self, fn: Callable[..., R], *args: Any) -> R:
        """:meth:`read` for an ``fn`` that runs exactly ONE statement: on PostgreSQL without the
        transaction's BEGIN and ROLLBACK round trips (a statement is a consistent snapshot by itself)."""
        return await self.read_executor.run_one(fn, *args)

    @property
    def read_executor(self) -> ReadExecutor:
        """Created on first use (the database file may not exist, or be migrated, before that)."""
        if self._read_executor is None:
            self._read_executor = ReadExecutor(self.url, busy_timeout_ms=self.busy_timeout_ms,
                                               json_serializer=canonical_json, json_deserializer=jsonio.loads)
        return self._read_executor

    def session(self) -> AsyncSession:
        """A read session for query builders that prefer the ORM-style API (``async with db.session() as s``)."""
        return self._sessions()

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.close)
        if self._read_executor is not None:
            executor, self._read_executor = self._read_executor, None
            await asyncio.to_thread(executor.close)
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        if self.lease_engine is not self.write_engine:
            await self.lease_engine.dispose()


def prepare_database_sync(url: str) -> None:
    """Create the SQLite file's directory and run the migrations up to head (CLI, tests)."""
    from app.db.migrate import upgrade

    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)


async def prepare_database(url: str) -> None:
    """:func:`prepare_database_sync` on a worker thread (Alembic's async env runs its own loop)."""
    await asyncio.to_thread(prepare_database_sync, url)


__all__ = ["Database", "PreSerialized", "canonical_json", "dialect_insert", "prepare_database", "prepare_database_sync", "utcnow"]
