"""The benchmark's databases on either backend: a SQLite file or a PostgreSQL database per fleet size,
read by the measuring workers through SQLAlchemy with the driver the server itself uses (aiosqlite,
asyncpg), so the harness needs nothing a server deployment does not.

    url_for("sqlite", work_dir / "snapshot.db")            sqlite+aiosqlite:///.../snapshot.db
    url_for("postgresql", "bench_50000", server_url)        a fresh database on that server
"""

from __future__ import annotations

import asyncio
import ast
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

CLOUD = "bench"
BACKENDS = ("sqlite", "postgresql")
ROOT = Path(__file__).resolve().parent.parent


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def sqlite_file(url: str) -> str | None:
    u = make_url(url)
    return u.database if u.get_backend_name() == "sqlite" else None


def postgres_server_url(explicit: str | None) -> str:
    """The PostgreSQL server to benchmark on: ``--postgres-url``, else ``OPS_BENCH_POSTGRES_URL``, else
    the server ``scripts/postgres.sh`` runs (started if it is not running)."""
    if explicit:
        return explicit
    if os.environ.get("OPS_BENCH_POSTGRES_URL"):
        return os.environ["OPS_BENCH_POSTGRES_URL"]
    out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"scripts/postgres.sh start failed: {out.stderr[-1000:]}")
    return out.stdout.strip().splitlines()[-1]


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _with_conn(url: str, fn: Callable[[AsyncConnection], Awaitable[Any]], autocommit: bool = False) -> Any:
    engine = create_async_engine(url, poolclass=pool.NullPool,
                                 **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))
    try:
        async with engine.connect() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()


def fresh_postgres_database(server_url: str, name: str) -> str:
    """Drop (if left from an earlier run) and create database ``name``; its URL."""
    async def create(conn: AsyncConnection) -> None:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    asyncio.run(_with_conn(server_url, create, autocommit=True))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    u = make_url(url)
    name = u.database

    async def drop(conn: AsyncConnection) -> None:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    asyncio.run(_with_conn(u.set(database="postgres").render_as_string(hide_password=False), drop, autocommit=True))


async def db_bytes(url: str) -> int:
    """Size of the snapshot on disk: the SQLite file with its WAL, or the PostgreSQL database."""
    path = sqlite_file(url)
    if path is not None:
        return sum(os.path.getsize(p) for p in (path, path + "-wal", path + "-shm") if os.path.exists(p))

    async def size(conn: AsyncConnection) -> int:
        return int((await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one())

    return int(await _with_conn(url, size))


def migration_head(app_root: Path | str) -> str:
    """The head revision of a checkout's migrations (the one no other names as its down_revision)."""
    revs: dict[str, str | None] = {}
    for f in Path(app_root, "migrations", "versions").glob("*.py"):
        values = {}
        for node in ast.parse(f.read_text()).body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and node.value is not None:
                values[target.id] = ast.literal_eval(node.value)
        if "revision" in values:
            revs[values["revision"]] = values.get("down_revision")
    heads = set(revs) - {d for d in revs.values() if d}
    if len(heads) != 1:
        raise RuntimeError(f"{app_root}: expected one migration head, found {sorted(heads)}")
    return heads.pop()


def copy_for_checkout(sqlite_path: str, app_root: Path | str) -> str:
    """A copy of the SQLite database for an EARLIER checkout's server (``--compare-base``): the same
    rows, stamped with that checkout's migration head so its startup migration is a no-op (the newer
    schema only adds tables, columns and indexes it does not read). Returns the copy's path."""
    dest = str(Path(sqlite_path).with_name("snapshot-base.db"))
    for suffix in ("", "-wal", "-shm"):
        Path(dest + suffix).unlink(missing_ok=True)
    src, out = sqlite3.connect(sqlite_path), sqlite3.connect(dest)
    try:
        src.backup(out)
        out.execute("UPDATE alembic_version SET version_num = ?", (migration_head(app_root),))
        out.commit()
    finally:
        src.close()
        out.close()
    return dest


async def recorded_auth_url(url: str) -> str:
    """The auth URL of the cloud a benchmark database was synced from (``cloud_identities``)."""
    async def read(conn: AsyncConnection) -> str:
        row = (await conn.execute(text("SELECT auth_url FROM cloud_identities WHERE cloud=:c"), {"c": CLOUD})).first()
        if row is None:
            raise RuntimeError(f"{redact(url)} holds no synced cloud {CLOUD!r}: run `python -m bench --keep` first")
        return str(row[0])

    return str(await _with_conn(url, read))


async def forget_identity(url: str) -> None:
    """Forget which cloud a kept benchmark database was synced from (its ``cloud_identities`` row):
    ``--reuse-databases`` serves it with a new simulator of the same size and seed (the same cloud on
    another port), which the server would otherwise refuse as another cloud's database; it records the
    new simulator's identity on first use."""
    async def write(conn: AsyncConnection) -> None:
        await conn.execute(text("DELETE FROM cloud_identities WHERE cloud=:c"), {"c": CLOUD})
        await conn.commit()

    await _with_conn(url, write)


async def samples(url: str) -> dict[str, str]:
    """Real values for the argument placeholders of :mod:`bench.tool_args`."""
    queries = {
        "server_name": "SELECT name FROM servers WHERE cloud=:c AND deleted_at IS NULL GROUP BY name "
                       "HAVING count(*) = 1 ORDER BY name LIMIT 1 OFFSET 7",
        "server_id": "SELECT id FROM servers WHERE cloud=:c AND deleted_at IS NULL ORDER BY id LIMIT 1",
        "network_name": "SELECT name FROM networks WHERE cloud=:c AND deleted_at IS NULL ORDER BY name LIMIT 1",
        "flavor_name": "SELECT name FROM flavors WHERE cloud=:c AND deleted_at IS NULL ORDER BY vcpus DESC, name "
                       "LIMIT 1",
        "project_name": "SELECT name FROM projects WHERE cloud=:c AND deleted_at IS NULL ORDER BY name LIMIT 1",
        "provider_id": "SELECT id FROM resource_providers WHERE cloud=:c AND deleted_at IS NULL ORDER BY id LIMIT 1",
        "load_balancer_id": "SELECT id FROM load_balancers WHERE cloud=:c AND deleted_at IS NULL ORDER BY id LIMIT 1",
        # the instance with the longest history in the change log (its largest answer)
        "changed_server_id": "SELECT resource_id FROM snapshot_changes WHERE cloud=:c AND kind='servers' "
                             "GROUP BY resource_id ORDER BY count(*) DESC, resource_id LIMIT 1",
    }

    async def read(conn: AsyncConnection) -> dict[str, str]:
        out = {}
        for key, sql in queries.items():
            try:
                row = (await conn.execute(text(sql), {"c": CLOUD})).first()
            except DBAPIError:  # a kind this checkout does not have (e.g. --app-root of an older commit)
                await conn.rollback()
                row = None
            out[key] = str(row[0]) if row else "none"
        if out["changed_server_id"] == "none":
            out["changed_server_id"] = out["server_id"]
        return out

    return await _with_conn(url, read)  # type: ignore[no-any-return]


async def active_servers(url: str, fraction: float) -> tuple[int, list[str]]:
    """(live servers, ids of ~``fraction`` of them that are ACTIVE, in id order)."""
    async def read(conn: AsyncConnection) -> tuple[int, list[str]]:
        total = (await conn.execute(text("SELECT count(*) FROM servers WHERE cloud=:c AND deleted_at IS NULL"),
                                    {"c": CLOUD})).scalar_one()
        k = max(1, round(total * fraction))
        ids = (await conn.execute(text("SELECT id FROM servers WHERE cloud=:c AND deleted_at IS NULL AND "
                                       "status='ACTIVE' ORDER BY id LIMIT :k"), {"c": CLOUD, "k": k})).scalars().all()
        return int(total), [str(i) for i in ids]

    return await _with_conn(url, read)  # type: ignore[no-any-return]
