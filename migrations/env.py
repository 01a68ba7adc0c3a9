"""Alembic environment: async-capable (``sqlite+aiosqlite``, ``postgresql+asyncpg``) or sync URLs.

The URL comes from, in order: a connection handed in via ``config.attributes["connection"]``,
``-x database_url=...``, the config's ``sqlalchemy.url`` (set by ``app.db.migrate``), or the
settings (``OPS_DATABASE_URL`` / default data-dir file).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import async_engine_from_config

from app.db.meta import include_name, metadata
from app.db.migrate import sqlite_transaction_control
from app.resources.registry import load_all_tables

load_all_tables()
config = context.config
target_metadata = metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from app.config import load_settings

        url = load_settings().database_url
    return url


def _configure(connection: Connection | None = None, **kw: Any) -> None:
    if connection is not None and connection.dialect.name == "sqlite":
        kw.setdefault("transactional_ddl", True)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        include_name=include_name,
        **kw,
    )


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        from pathlib import Path

        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _do_run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = async_engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    sqlite_transaction_control(engine.sync_engine, "BEGIN")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_do_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _run_coro_blocking(coro: Any) -> None:
    """asyncio.run, or on a fresh thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    t = threading.Thread(target=target, name="alembic-migrate")
    t.start()
    t.join()
    if errors:
        raise errors[0]


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _do_run(connection)
        return
    url = _url()
    _ensure_sqlite_dir(url)
    if make_url(url).get_dialect().is_async:
        _run_coro_blocking(_run_async(url))
        return
    engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    sqlite_transaction_control(engine, "BEGIN")
    try:
        with engine.begin() as conn:
            _do_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
