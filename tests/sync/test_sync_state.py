"""sync_state (what freshness reads) always agrees with the sync_runs history it summarises, and the
migration's backfill builds the same summary from an existing history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.context import open_app_context
from app.db.migrate import downgrade, upgrade
from tests import backend
from tests.tools.conftest import make_settings

SUMMARY = """
SELECT k.kind,
       (SELECT max(finished_at) FROM sync_runs s WHERE s.kind = k.kind AND s.mode IN ('full','incremental')
          AND s.status = 'succeeded'),
       n.status, n.finished_at
FROM (SELECT kind, max(id) AS newest FROM sync_runs WHERE mode IN ('full','incremental')
      AND status <> 'running' GROUP BY kind) k JOIN sync_runs n ON n.id = k.newest ORDER BY k.kind
"""
STATE = "SELECT kind, last_success_at, last_status, last_finished_at FROM sync_state ORDER BY kind"


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in backend.rows(url, sql)]


async def test_state_tracks_successes_failures_and_abandoned_runs(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=20)
    db = tmp_path / "state.db"
    settings = make_settings(db)
    async with open_app_context(settings, **sim.connect_kwargs()) as app:
        await app.sync.sync_all(["flavors", "servers", "volumes"])
        sim.inject(r"/flavors/detail", status=500, count=1)
        failed = await app.sync.full_sync("flavors")
        assert failed.status == "failed"
        await app.sync.incremental_sync("servers")
        started = await app.sync.runs.start("volumes", "full")  # a run whose process "died"
        assert started.run_id
        assert await app.sync.runs.abandon_running() == 1
        fresh = await app.snapshot(["flavors", "servers", "volumes"], wait=False)
    url = settings.database_url
    assert rows(url, STATE) == rows(url, SUMMARY)
    by_kind = {k.kind: k for k in fresh.kinds}
    assert by_kind["flavors"].status == "failed" and by_kind["flavors"].as_of is not None
    assert by_kind["servers"].status == "ok"
    assert by_kind["volumes"].status == "failed" and "abandoned" in (by_kind["volumes"].last_error or "")

    # The migration's backfill rebuilds the same summary from the history alone.
    downgrade(url, "0006_read_path_indexes")
    upgrade(url)
    assert rows(url, STATE) == rows(url, SUMMARY)
