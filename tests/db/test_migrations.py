"""Alembic owns the schema: upgrade head == the models; downgrade base leaves nothing behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.db.meta import metadata
from app.db.migrate import current, downgrade, head, upgrade
from app.resources.registry import load_all_tables


def _url(tmp_path: Path, driver: str = "sqlite+aiosqlite") -> str:
    return f"{driver}:///{tmp_path / 'snap.db'}"


def test_upgrade_head_matches_models(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    assert current(url) == head()
    load_all_tables()
    engine = create_engine(f"sqlite:///{tmp_path / 'snap.db'}")
    with engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(mc, metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_base_leaves_no_tables_or_views(tmp_path: Path) -> None:
    url = _url(tmp_path, "sqlite")
    upgrade(url)
    downgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT type, name FROM sqlite_master WHERE type IN ('table','view')")).all()
    engine.dispose()
    assert [n for _, n in names if n != "alembic_version"] == []
    assert current(url) is None


def test_upgrade_from_async_code_in_a_worker_thread(tmp_path: Path) -> None:
    url = _url(tmp_path)

    async def main() -> None:
        await asyncio.to_thread(upgrade, url)

    asyncio.run(main())
    engine = create_engine(f"sqlite:///{tmp_path / 'snap.db'}")
    assert "sync_runs" in inspect(engine).get_table_names()
    engine.dispose()


def test_upgrade_creates_missing_parent_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'snap.db'}"
    upgrade(url)
    assert current(url) == head()
