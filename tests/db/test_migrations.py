"""Alembic owns the schema: upgrade head == the models; downgrade base leaves nothing behind; on the
backend under test (tests/backend.py: SQLite, or PostgreSQL with OPS_TEST_DATABASE=postgresql)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from app.db.meta import include_name, is_unmanaged, metadata
from app.db.migrate import current, downgrade, head, upgrade
from app.resources.registry import load_all_tables
from tests import backend


def _url(tmp_path: Path, driver: str = "sqlite+aiosqlite") -> str:
    """An empty database: the SQLite file through ``driver``, or a new PostgreSQL database."""
    if backend.POSTGRES:
        return backend.database_url(tmp_path / "snap.db", empty=True)
    return f"{driver}:///{tmp_path / 'snap.db'}"


def _compare(conn: Connection) -> list[Any]:
    mc = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True,
                                                "include_name": include_name})
    return list(compare_metadata(mc, metadata))


def _tables_and_views(url: str) -> list[str]:
    with backend.connect(url) as c:
        return c.run_sync(lambda sc: inspect(sc).get_table_names() + inspect(sc).get_view_names())


def test_upgrade_head_matches_models(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    assert current(url) == head()
    load_all_tables()
    with backend.connect(url) as conn:
        diff = conn.run_sync(_compare)
    assert diff == []


@backend.sqlite_only
def test_fts_tables_are_the_only_unmanaged_ones(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    with backend.connect(url) as conn:
        fts = {n for (n,) in conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'servers_fts%'"))}
    # The FTS table and its shadow tables exist, and only they are skipped by the comparison.
    assert {"servers_fts", "servers_fts_data", "servers_fts_idx", "servers_fts_content"} <= fts
    assert all(is_unmanaged(n) for n in fts)
    assert not is_unmanaged("servers") and not is_unmanaged("server_addresses")


def test_downgrade_base_leaves_no_tables_or_views(tmp_path: Path) -> None:
    url = _url(tmp_path, "sqlite")
    upgrade(url)
    downgrade(url)
    assert [n for n in _tables_and_views(url) if n != "alembic_version"] == []
    assert current(url) is None


def test_upgrade_from_async_code_in_a_worker_thread(tmp_path: Path) -> None:
    url = _url(tmp_path)

    async def main() -> None:
        await asyncio.to_thread(upgrade, url)

    asyncio.run(main())
    assert "sync_runs" in _tables_and_views(url)


@backend.sqlite_only
def test_upgrade_creates_missing_parent_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'snap.db'}"
    upgrade(url)
    assert current(url) == head()


def _server_row(rowid_name: str, **kw: object) -> dict[str, object]:
    row = {"cloud": "c", "id": rowid_name, "name": rowid_name, "status": "ACTIVE", "host": "compute-01",
           "raw": '{"addresses": {"net": [{"addr": "10.1.2.3"}, {"addr": "fd00::7"}]}}',
           "first_seen_at": "2024-01-01 00:00:00", "last_seen_at": "2024-01-01 00:00:00", "last_sync_id": 1,
           "deleted_at": None}
    row.update(kw)
    return row


@backend.sqlite_only
def test_fts_table_follows_servers_through_triggers_and_downgrades_cleanly(tmp_path: Path) -> None:
    url = _url(tmp_path, "sqlite")
    upgrade(url)
    engine = create_engine(url)
    ins = text("INSERT INTO servers (cloud, id, name, status, host, raw, first_seen_at, last_seen_at, last_sync_id,"
               " deleted_at) VALUES (:cloud, :id, :name, :status, :host, :raw, :first_seen_at, :last_seen_at,"
               " :last_sync_id, :deleted_at)")

    def docs(conn: object) -> dict[str, tuple[object, ...]]:
        return {r[0]: tuple(r[1:]) for r in conn.execute(  # type: ignore[attr-defined]
            text("SELECT s.id, f.name, f.host, f.ips FROM servers_fts f JOIN servers s ON s.rowid = f.rowid"))}

    def match(conn: object, q: str) -> set[str]:
        return {r[0] for r in conn.execute(text(  # type: ignore[attr-defined]
            "SELECT s.id FROM servers_fts f JOIN servers s ON s.rowid = f.rowid WHERE servers_fts MATCH :q"), {"q": q})}

    with engine.begin() as conn:
        conn.execute(ins, [_server_row("web-1"), _server_row("db-1"), _server_row("old", deleted_at="2024-01-02")])
        assert docs(conn) == {"web-1": ("web-1", "compute-01", "10.1.2.3\nfd00::7"),
                              "db-1": ("db-1", "compute-01", "10.1.2.3\nfd00::7")}
        assert match(conn, '{name}: "web"') == {"web-1"} and match(conn, '{ips}: "fd00"') == {"web-1", "db-1"}
        # A change of a searched column re-indexes; a bookkeeping-only update does not touch the index.
        conn.execute(text("UPDATE servers SET name = 'api-1', raw = '{}' WHERE id = 'web-1'"))
        conn.execute(text("UPDATE servers SET last_seen_at = '2024-02-01 00:00:00'"))
        assert docs(conn)["web-1"] == ("api-1", "compute-01", None)
        # A status change (and whatever else of raw but the addresses) leaves the document alone (0018):
        # the statement changes one row, no trigger writes.
        before = conn.execute(text("SELECT total_changes()")).scalar_one()
        conn.execute(text("UPDATE servers SET status = 'SHUTOFF', raw = '{\"status\": \"SHUTOFF\"}' "
                          "WHERE id = 'web-1'"))
        assert conn.execute(text("SELECT total_changes()")).scalar_one() == before + 1
        assert match(conn, '{name}: "web"') == set()
        # Tombstoning removes the document, a resurrection (upsert with deleted_at NULL) adds it back.
        conn.execute(text("UPDATE servers SET deleted_at = '2024-03-01 00:00:00' WHERE id = 'db-1'"))
        assert set(docs(conn)) == {"web-1"}
        conn.execute(text("UPDATE servers SET deleted_at = NULL WHERE id IN ('db-1', 'old')"))
        assert set(docs(conn)) == {"web-1", "db-1", "old"}
        conn.execute(text("DELETE FROM servers WHERE id = 'old'"))
        assert set(docs(conn)) == {"web-1", "db-1"}
        assert conn.execute(text("INSERT INTO servers_fts(servers_fts) VALUES ('integrity-check')")) is not None
    engine.dispose()
    downgrade(url, "0017_unchanged_row_writes")  # 0005's table again, status included, rebuilt from the rows
    engine = create_engine(url)
    with engine.connect() as conn:
        assert match(conn, '{status}: "SHUT"') == {"web-1"} and match(conn, '{name}: "db-"') == {"db-1"}
    engine.dispose()
    downgrade(url, "0004_operations")
    engine = create_engine(url)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT type, name FROM sqlite_master WHERE name LIKE 'servers_fts%'")).all()
        assert conn.execute(text("SELECT count(*) FROM servers")).scalar_one() == 2
    engine.dispose()
    assert left == []
    upgrade(url)  # and back: the backfill indexes the live rows already there
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM servers_fts")).scalar_one() == 2
    engine.dispose()
