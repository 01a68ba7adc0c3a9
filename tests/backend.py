"""The database backend the tests run on, and the one way tests get and read a database.

SQLite files by default. ``OPS_TEST_DATABASE=postgresql`` runs the same tests on PostgreSQL: the
server at ``OPS_TEST_POSTGRES_URL`` (a superuser URL, ``postgresql+asyncpg://...``; what
``bash scripts/postgres.sh start`` prints), or, when that is unset, the server that script starts for
this test run (and stops at its end). The real migrations run once into a template database
(``ops_tpl_<pid>``); each test database is ``CREATE DATABASE ... TEMPLATE`` of it, so a test gets a
migrated, empty snapshot in a few milliseconds. Test databases are dropped when the test (or the
session, for session fixtures) ends.

* :func:`database_url` maps a test's ``tmp_path / "x.db"`` to a URL: the SQLite file, or a PostgreSQL
  database named after that path (the same path always gives the same database within a run); a new
  one is migrated to head on both backends (a copy of a template migrated once) unless ``empty=True``.
* :func:`connect` / :func:`rows` / :func:`count_rows` read (and write) any of them through SQLAlchemy
  with the async driver the server itself uses (aiosqlite, asyncpg), behind a blocking facade: no
  sync PostgreSQL driver is needed, and no test opens the SQLite file by path.
* :data:`sqlite_only` skips a test that is about SQLite itself (file bytes, WAL, FTS5) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

BACKEND = os.environ.get("OPS_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if BACKEND in ("postgres", "pg"):
    BACKEND = "postgresql"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"OPS_TEST_DATABASE must be sqlite or postgresql (got {BACKEND!r})")
POSTGRES = BACKEND == "postgresql"
ROOT = Path(__file__).resolve().parent.parent

sqlite_only = pytest.mark.skipif(POSTGRES, reason="about SQLite itself (file, WAL, FTS5): not run on PostgreSQL")


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


# ----------------------------------------------------------------------------------------------
# A blocking facade over an async connection (its own event loop on a thread), for test code that
# reads or seeds a database outside the server under test.


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-db", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class BlockingConnection:
    """``execute`` / ``run_sync`` / ``commit`` of an ``AsyncConnection``, called from plain code."""

    def __init__(self, loop: _Loop, conn: AsyncConnection) -> None:
        self._loop = loop
        self._conn = conn

    @property
    def dialect_name(self) -> str:
        return self._conn.dialect.name

    def execute(self, statement: Any, params: Any = None) -> Any:
        if isinstance(statement, str):
            statement = text(statement)
        return self._loop.run(self._conn.execute(statement, params))

    def run_sync(self, fn: Callable[[Connection], Any]) -> Any:
        """``fn(sync_connection)`` (inspection, Alembic's compare_metadata)."""
        return self._loop.run(self._conn.run_sync(fn))

    def commit(self) -> None:
        self._loop.run(self._conn.commit())


@contextmanager
def connect(url: str, *, begin: bool = False) -> Iterator[BlockingConnection]:
    """A connection to the test database at ``url`` (through the async driver). ``begin=True``:
    committed on success."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and not u.get_dialect().is_async:
        u = u.set(drivername="sqlite+aiosqlite")
    loop = _Loop()
    # JSON columns come back as the stored text on both backends (SQLite has no JSON type; asyncpg
    # would decode them), so tests compare the same values whichever backend they run on.
    engine = create_async_engine(u, poolclass=pool.NullPool, json_deserializer=lambda text_: text_)
    try:
        conn = loop.run(engine.connect().start())
        try:
            bc = BlockingConnection(loop, conn)
            yield bc
            if begin:
                bc.commit()
        finally:
            loop.run(conn.close())
    finally:
        loop.run(engine.dispose())
        loop.close()


class SqlRow(tuple):  # type: ignore[type-arg]
    """A result row (index, iterate, ``._mapping``, attributes) with values as SQLite returns them to a
    textual query: JSON as its stored text, timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text."""

    _fields: tuple[str, ...] = ()

    def __new__(cls, keys: list[str], values: list[Any]) -> SqlRow:
        row = super().__new__(cls, [_as_sqlite(v) for v in values])
        row._fields = tuple(keys)
        return row

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None


def _as_sqlite(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's storage format on SQLite
    return value


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    """Every row of ``sql`` (``:name`` parameters), with the same values on both backends (:class:`SqlRow`)."""
    with connect(url) as c:
        result = c.execute(text(sql), params)
        keys = list(result.keys())
        return [SqlRow(keys, list(r)) for r in result.all()]


def count_rows(url: str, table: str, where: str = "1=1") -> int:
    with connect(url) as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one())  # noqa: S608


def stored_bytes(url: str) -> bytes:
    """Everything the database stores, as bytes to search for secrets: the SQLite file plus its WAL
    (call after the writer's ``dispose()``), or every row of every PostgreSQL table as text."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database or "")
        data = path.read_bytes()
        for suffix in ("-wal", "-shm"):
            extra = Path(str(path) + suffix)
            if extra.exists():
                data += extra.read_bytes()
        return data
    out: list[str] = []
    with connect(url) as c:
        tables = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))]
        for t in tables:
            out += [r[0] for r in c.execute(text(f'SELECT t::text FROM "{t}" t'))]  # noqa: S608
    return "\n".join(out).encode()


# ----------------------------------------------------------------------------------------------
# PostgreSQL: one server per run, a migrated template, a database per test.


class PostgresCluster:
    def __init__(self) -> None:
        self.started_here = False
        url = os.environ.get("OPS_TEST_POSTGRES_URL", "").strip()
        if not url:
            script = ["bash", str(ROOT / "scripts" / "postgres.sh")]
            running = subprocess.run([*script, "status"], capture_output=True, timeout=60).returncode == 0
            out = subprocess.run([*script, "start"], check=True, capture_output=True, text=True, timeout=600)
            url = out.stdout.strip().splitlines()[-1]
            self.started_here = not running  # never stop a server someone else started
        self.server_url = url
        self.admin = _Loop()
        self.engine = create_async_engine(self.admin_db_url("postgres"), poolclass=pool.NullPool,
                                          isolation_level="AUTOCOMMIT")
        self.prefix = f"ops_{os.getpid()}_"
        self.template = f"{self.prefix}tpl"
        self.names = (f"{self.prefix}{n}" for n in itertools.count(1))
        self.by_key: dict[str, str] = {}
        self.created: list[str] = []
        self._template_ready = False
        self._lock = threading.Lock()

    def admin_db_url(self, database: str) -> str:
        return make_url(self.server_url).set(database=database).render_as_string(hide_password=False)

    def _sql(self, *statements: str) -> None:
        async def go() -> None:
            async with self.engine.connect() as conn:
                for s in statements:
                    await conn.exec_driver_sql(s)

        self.admin.run(go())

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from app.db.migrate import upgrade

        self._sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)', f'CREATE DATABASE "{self.template}"')
        upgrade(self.admin_db_url(self.template))
        self._template_ready = True

    def database(self, key: str | None = None, *, empty: bool = False) -> str:
        """URL of a new database (a copy of the migrated template, or ``empty``); the same ``key``
        gives the same database."""
        with self._lock:
            if key is not None and key in self.by_key:
                return self.admin_db_url(self.by_key[key])
            name = next(self.names)
            if empty:
                self._sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
            else:
                self._ensure_template()
                self._sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self.created.append(name)
            if key is not None:
                self.by_key[key] = name
            return self.admin_db_url(name)

    def drop(self, names: list[str]) -> None:
        for name in names:
            self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if name in self.created:
                self.created.remove(name)
        gone = set(names)
        self.by_key = {k: v for k, v in self.by_key.items() if v not in gone}

    def close(self) -> None:
        self.drop(list(self.created))
        if self._template_ready:
            self._sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.run(self.engine.dispose())
        self.admin.close()
        if self.started_here:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop"], check=False, timeout=120)


_cluster: PostgresCluster | None = None
_sqlite_template: Path | None = None


def cluster() -> PostgresCluster:
    global _cluster
    if _cluster is None:
        _cluster = PostgresCluster()
    return _cluster


def created_databases() -> list[str]:
    return list(_cluster.created) if _cluster is not None else []


def drop_databases(names: list[str]) -> None:
    if _cluster is not None and names:
        _cluster.drop(names)


def close() -> None:
    """End of the run: drop every PostgreSQL database left, stop a server started here, remove the
    SQLite template."""
    global _cluster, _sqlite_template
    if _cluster is not None:
        _cluster.close()
        _cluster = None
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)
        _sqlite_template = None


# ----------------------------------------------------------------------------------------------
# What tests call.


def database_url(path: Path | str, *, empty: bool = False) -> str:
    """The database for ``path`` (a test's ``tmp_path / "name.db"``), the same on both backends: already
    migrated to head unless ``empty`` (then the server, or the test, migrates it).

    SQLite: that file; if it does not exist yet (and not ``empty``), a copy of a template file migrated
    once per run (a copy takes a millisecond, running the migrations a second or more per test; the
    server's own start-up upgrade then finds it at head). An existing file is used as it is.
    PostgreSQL: a database of its own for this path (the same path gives the same database)."""
    if not POSTGRES:
        if not empty and not Path(path).exists():
            return migrated_url(path)
        return sqlite_url(path)
    return cluster().database(str(path), empty=empty)


def migrated_url(path: Path | str) -> str:
    """A database for ``path`` migrated to head on both backends (SQLite: the file is replaced by a copy
    of a template file migrated once per run)."""
    global _sqlite_template
    if POSTGRES:
        return database_url(path)
    target = Path(path)
    if _sqlite_template is None:
        import tempfile

        from app.db.migrate import upgrade

        tpl = Path(tempfile.mkdtemp(prefix="ops-template-")) / "snapshot.db"
        upgrade(sqlite_url(tpl))
        _sqlite_template = tpl
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, target)
    return sqlite_url(target)


def new_database_url(tmp_path: Path, name: str = "snapshot.db", *, empty: bool = False) -> str:
    """A fresh database for one test: empty (``empty``) or migrated to head."""
    if empty:
        return database_url(tmp_path / name, empty=True)
    return migrated_url(tmp_path / name)


