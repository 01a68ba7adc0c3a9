"""The report cache serves repeated reports without recomputing, and never past a data change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.context import open_app_context
from app.services.cluster_status import KINDS, cluster_status
from tests.tools.conftest import make_settings


async def test_report_is_reused_until_the_data_changes(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=40)
    settings = make_settings(tmp_path / "cache.db")
    calls = 0

    async with open_app_context(settings, **sim.connect_kwargs()) as app:
        await app.sync.sync_all()

        async def compute() -> Any:
            nonlocal calls
            calls += 1
            return await cluster_status(app, stuck_after_minutes=60, max_evidence=10, threshold_crit=90.0)

        first = await app.reports.get_or_compute(app, "cs", (), KINDS, compute)
        second = await app.reports.get_or_compute(app, "cs", (), KINDS, compute)
        assert calls == 1 and app.reports.hits == 1
        assert second.instances.by_status == first.instances.by_status

        # An unchanged re-sync does not invalidate.
        await app.sync.full_sync("servers")
        await app.reports.get_or_compute(app, "cs", (), KINDS, compute)
        assert calls == 1

        # A real change does: delete an ACTIVE server in the cloud and sync.
        victim = next(s for s in sim.state.values("servers") if s["status"] == "ACTIVE")
        sim.state.remove("servers", victim["id"])
        await app.sync.full_sync("servers")
        third = await app.reports.get_or_compute(app, "cs", (), KINDS, compute)
        assert calls == 2
        assert third.instances.by_status["ACTIVE"] == first.instances.by_status["ACTIVE"] - 1

        # Different parameters are different reports.
        await app.reports.get_or_compute(app, "cs", ("other",), KINDS, compute)
        assert calls == 3
