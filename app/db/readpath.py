"""The read executor: a whole read (every statement of a tool and its freshness block) in ONE
worker-thread call, in one snapshot-consistent read-only transaction.

Usage (through :meth:`app.db.engine.Database.read`)::

    def rows(conn: Connection, cloud: str) -> list[Row]:   # plain sync code, no await
        a = conn.execute(stmt_a, {"cloud": cloud}).all()
        b = conn.execute(stmt_b).scalar_one()              # sees the same snapshot as stmt_a
        return ...

    result = await db.read(rows, cloud)

``fn(conn, *args)`` runs on a worker thread of this executor's own pool, on that thread's own read
connection (opened once, kept for the life of the process): ``conn`` is a SQLAlchemy *sync*
``Connection``, so SQLAlchemy Core statements run as they are (``conn.execute(select(...))``, rows,
``.mappings()``, ``.scalar_one()``) and compiled SQL is reused from the engine's compiled cache.
Whatever ``fn`` returns (or raises: domain errors included) comes back to the awaiting caller.
Services that answer a tool call use :meth:`app.context.AppContext.read`, which adds the freshness
block read in the same transaction.

* SQLite: the stdlib ``sqlite3`` driver, the file opened read-only (``file:...?mode=ro``) with
  ``PRAGMA query_only=ON`` and ``busy_timeout``; the database is in WAL mode (the writer sets it),
  so the poller never blocks a read. A deferred ``BEGIN`` (in-thread, no round trip) makes every
  statement of ``fn`` read one snapshot; it ends with the read.
* PostgreSQL: psycopg 3 (the ``postgres`` extra) in the same thread, each read one ``READ ONLY``
  ``REPEATABLE READ`` transaction, so one code path serves both backends. ``run_one`` (one statement,
  a consistent snapshot by itself) runs on a second connection of the thread in autocommit: one round
  trip instead of three. The session's ``default_transaction_read_only`` keeps that one read-only too.

``fn`` must not await (it is not a coroutine) and must not write: a write through this connection
fails (SQLite ``attempt to write a readonly database``, PostgreSQL ``read-only transaction``).
``calls`` counts the worker submissions and ``on_submit`` (tests) sees each one; ``inline`` counts the
one-statement reads SQLite ran on the event loop (``run_one``).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import URL, make_url

P = ParamSpec("P")
R = TypeVar("R")

READ_THREADS = 4


def sync_read_url(url: str) -> URL:
    """The sync driver URL behind the app's async one: SQLite through ``sqlite3`` opened read-only,
    PostgreSQL through psycopg 3."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = u.database or ""
        if not path or path == ":memory:":
            raise ValueError("the read path needs a SQLite file (a memory database has no second connection)")
        return URL.create("sqlite+pysqlite", database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    return u.set(drivername="postgresql+psycopg")


def _sqlite_read_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we say BEGIN ourselves (see _sqlite_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":  # run_one's connection: none
        conn.exec_driver_sql("BEGIN")


_BUSY = object()  # run_one on SQLite: the inline read met a lock and goes to a worker thread instead


class ReadExecutor:
    """Per-worker-thread read connections and the one-hop :meth:`run`. Build one per process
    (``Database`` does); ``close()`` at shutdown."""

    def __init__(self, url: str, *, busy_timeout_ms: int, json_serializer: Callable[[Any], str],
                 json_deserializer: Callable[[str], Any] | None = None, threads: int = READ_THREADS) -> None:
        self.url = sync_read_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # PostgreSQL: two connections per thread, one for transactions and one in autocommit (run_one);
        # SQLite: one per thread, and run_one's on the event loop's thread
        size = threads + 1 if self.is_sqlite else threads * 2
        kw: dict[str, Any] = {"json_serializer": json_serializer, "pool_size": size, "max_overflow": 0}
        if json_deserializer is not None:
            kw["json_deserializer"] = json_deserializer
        if self.is_sqlite:
            # Each connection stays on its thread; close() runs on the caller's thread at shutdown.
            kw["connect_args"] = {"check_same_thread": False}
        else:
            kw["pool_pre_ping"] = True
            kw["isolation_level"] = "REPEATABLE READ"
            kw["execution_options"] = {"postgresql_readonly": True}
            # Read-only on the server too, for every transaction of the session: a one-statement read
            # runs in autocommit (no BEGIN/ROLLBACK round trips), where the driver's flag does nothing.
            kw["connect_args"] = {"options": "-c default_transaction_read_only=on"}
        self.engine: Engine = create_engine(self.url, **kw)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_read_pragmas(busy_timeout_ms))
            event.listen(self.engine, "begin", _sqlite_begin)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ops-read")
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._conns_lock = threading.Lock()
        self.calls = 0
        self.inline = 0  # run_one reads served on the event loop's thread (SQLite)
        self.on_submit: Callable[[Callable[..., Any]], None] | None = None

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _autocommit_conn(self) -> Connection:
        """This thread's connection without transactions (each statement its own snapshot)."""
        conn: Connection | None = getattr(self._local, "one", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.is_sqlite:  # on the event loop: a lock is never waited for (see run_one)
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
            self._local.one = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _one_in_thread(self, fn: Callable[..., R], args: tuple[Any, ...]) -> R:
        return fn(self._autocommit_conn(), *args)

    def _inline(self, fn: Callable[..., R], args: tuple[Any, ...]) -> R | object:
        try:
            return self._one_in_thread(fn, args)
        except OperationalError as e:
            if getattr(e.orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return _BUSY
            raise

    def _in_thread(self, fn: Callable[..., R], args: tuple[Any, ...]) -> R:
        conn = self._conn()
        tx = conn.begin()
        try:
            return fn(conn, *args)
        finally:
            tx.rollback()  # read-only either way: ends the snapshot

    async def _submit(self, body: Callable[[Callable[..., R], tuple[Any, ...]], R], fn: Callable[..., R],
                      args: tuple[Any, ...]) -> R:
        """``body(fn, args)`` on a worker thread: one hop, counted."""
        self.calls += 1
        if self.on_submit is not None:
            self.on_submit(fn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(body, fn, args))

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(conn, *args)`` on a worker thread, in one read transaction: one hop."""
        return await self._submit(self._in_thread, fn, args)

    async def run_one(self, fn: Callable[..., R], *args: Any) -> R:
        """Like :meth:`run` for an ``fn`` that runs ONE statement (itself a consistent snapshot): on
        PostgreSQL in autocommit, one round trip instead of three (BEGIN, the statement, ROLLBACK). On
        SQLite it runs right here on the event loop's thread (a small read of a local file: no thread
        hop, no wake-ups), with ``busy_timeout`` 0: when it meets a lock (a WAL recovery or restart)
        it goes to a worker thread, which waits for it, instead of blocking the loop."""
        if self.is_sqlite:
            got = self._inline(fn, args)
            if got is not _BUSY:
                self.inline += 1
                return got  # type: ignore[return-value]
            return await self.run(fn, *args)
        return await self._submit(self._one_in_thread, fn, args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self.engine.dispose()


__all__ = ["READ_THREADS", "ReadExecutor", "sync_read_url"]
