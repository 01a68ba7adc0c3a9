"""Run the Alembic migrations programmatically (``db upgrade`` CLI, tests, server start-up).

The functions are synchronous; from async code call them with ``await asyncio.to_thread(upgrade, url)``.
The configuration is built in code with ``script_location`` pointing at the installed ``migrations``
package, so it works from a wheel as well as from a checkout. ``database_url`` may be async
(``sqlite+aiosqlite:///...``, ``postgresql+asyncpg://...``) or sync (``sqlite:///...``); a
PostgreSQL deployment needs no sync driver.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

# pg_advisory_xact_lock key serialising migrations of one database ("mcpopsmg" as 8 bytes). Advisory
# locks are per database, so databases on one server do not wait for each other.
PG_MIGRATION_LOCK = 0x6D63706F70736D67
# How long a second SQLite migrator waits for the first one's write lock.
SQLITE_LOCK_TIMEOUT_S = 300


def migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % in a URL (encoded passwords) must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` up to ``revision`` (creating the SQLite file if needed).

    Serialised per database (see :func:`locked`): replicas starting together on an empty database
    migrate one after the other, and the later ones find it at head and do nothing."""
    locked(database_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    """Step the database back to ``revision`` (``base`` drops every table and view)."""
    locked(database_url, lambda cfg: command.downgrade(cfg, revision))


def locked(database_url: str, action: Callable[[Config], None]) -> None:
    """Run the Alembic ``action`` in one transaction that first takes the database's migration lock:
    ``pg_advisory_xact_lock`` on PostgreSQL, the write lock (``BEGIN IMMEDIATE``) on SQLite. Alembic
    reads the current revision after the lock is held, so a second migrator sees the first one's
    committed result. Works with async drivers (asyncpg, aiosqlite) and sync ones alike."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(database_url)

    def run(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        else:
            conn.exec_driver_sql("SELECT 1")  # opens the transaction (BEGIN IMMEDIATE: the write lock)
        cfg.attributes["connection"] = conn
        action(cfg)

    connect_args = {"timeout": SQLITE_LOCK_TIMEOUT_S} if url.get_backend_name() == "sqlite" else {}
    if url.get_dialect().is_async:
        async def run_async() -> None:
            engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
            sqlite_transaction_control(engine.sync_engine)
            try:
                async with engine.connect() as conn:
                    await conn.run_sync(run)
                    await conn.commit()
            finally:
                await engine.dispose()

        run_coroutine(run_async())
        return
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    sqlite_transaction_control(engine)
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()


def sqlite_transaction_control(engine: Any, begin: str = "BEGIN IMMEDIATE") -> None:
    """SQLite: take transaction control from the driver (pysqlite/aiosqlite commit before every DDL
    statement) so a migration run is one transaction, opened with ``begin`` (``BEGIN IMMEDIATE``: the
    write lock, which serialises migrators). Used here and by migrations/env.py."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _no_implicit_tx(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run(coro)``, on a fresh thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    t = threading.Thread(target=target, name="db-migrate")
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]


def sync_url(database_url: str) -> str:
    """The same database through a synchronous driver (SQLite only: PostgreSQL deployments may have
    only asyncpg installed, so nothing here needs a sync PostgreSQL driver)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.get_dialect().is_async:
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def current(database_url: str) -> str | None:
    """The revision the database is at (None for an empty or unmigrated database)."""
    url = make_url(database_url)
    if url.get_dialect().is_async:
        async def read() -> str | None:
            engine = create_async_engine(url, poolclass=pool.NullPool)
            try:
                async with engine.connect() as conn:
                    return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            finally:
                await engine.dispose()

        return run_coroutine(read())  # type: ignore[no-any-return]
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision shipped with this version of the code."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def regenerate_initial() -> Path:
    """Developer tool (until the first release): rewrite ``0001_initial`` from the current metadata.

    ``mcp-openstack-ops db regenerate-initial``. Renders what autogenerate produces against an empty
    database, so later revisions (views) keep chaining onto it."""
    from alembic.autogenerate import produce_migrations, render_python_code

    from app.db.meta import metadata
    from app.resources.registry import load_all_tables

    load_all_tables()
    later = _tables_of_later_revisions()

    def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table not in later

    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"render_as_batch": True, "compare_type": True,
                                                   "target_metadata": metadata, "include_object": include_object})
        script = produce_migrations(mc, metadata)
    opts = {"render_as_batch": True, "alembic_module_prefix": "op.", "sqlalchemy_module_prefix": "sa."}
    up = render_python_code(script.upgrade_ops, migration_context=mc, **opts)
    down = render_python_code(script.downgrade_ops, migration_context=mc, **opts)
    path = migrations_dir() / "versions" / "0001_initial.py"
    path.write_text(_INITIAL_TEMPLATE.format(upgrade=_indent(up), downgrade=_indent(down)))
    return path


def _tables_of_later_revisions() -> set[str]:
    """Tables that revisions after 0001 create (``op.create_table("name"``): they stay there."""
    import re

    names: set[str] = set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        if path.name != "0001_initial.py":
            names.update(re.findall(r"create_table\(\s*['\"](\w+)['\"]", path.read_text()))
    return names


def _indent(code: str) -> str:
    lines = [ln for ln in code.strip("\n").splitlines() if not ln.strip().startswith("# ###")]
    return "\n".join(("    " + ln.strip("\n")) if ln.strip() else "" for ln in _dedent(lines))


def _dedent(lines: list[str]) -> list[str]:
    import textwrap

    return textwrap.dedent("\n".join(lines)).splitlines()


_INITIAL_TEMPLATE = '''"""initial schema: every snapshot, link and bookkeeping table.

Generated by ``mcp-openstack-ops db regenerate-initial`` from the table definitions in
app/resources/*.py and app/db/bookkeeping.py. Until the first release this file is regenerated
whenever a kind is added or changed; after that, schema changes go in new revisions.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''

