"""The report cache: reports are rebuilt in the background after each sync commit, never on a
request; a request during a rebuild gets the previous version, marked as such."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.context import open_app_context
from app.db.engine import utcnow
from app.services import clouds
from app.services import cluster_status as cs
from app.services import resources_monitor as rm
from app.services.cache import read_basis
from app.services.report_warmer import WATCHED
from tests.services.report_helpers import (
    DEFAULT_CLUSTER, DEFAULT_MONITOR, count_computations, current_entry, held_rebuild,
)
from tests.tools.conftest import make_settings


async def cluster(app: Any, **kw: Any) -> cs.ClusterStatus:
    args = {"stuck_after_minutes": 60, "max_evidence": 5, "threshold_crit": cs.DEFAULT_CRIT, **kw}
    return await cs.cluster_status(app, **args)


async def monitor(app: Any) -> rm.ResourceMonitor:
    warn, crit, limit, offset = rm.DEFAULTS
    return await rm.monitor_resources(app, threshold_warn=warn, threshold_crit=crit, limit=limit, offset=offset)


def remove_active_server(sim: Any) -> None:
    victim = next(s for s in sim.state.values("servers") if s["status"] == "ACTIVE")
    sim.state.remove("servers", victim["id"])


async def test_reports_are_rebuilt_after_a_sync_never_on_a_request(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=40)
    async with open_app_context(make_settings(tmp_path / "cache.db"), **sim.connect_kwargs()) as app:
        seen = count_computations(app)
        await app.sync.sync_all()
        first = await current_entry(app, seen, DEFAULT_CLUSTER)
        await current_entry(app, seen, DEFAULT_MONITOR)

        before = await cluster(app)
        mon = await monitor(app)
        assert before.computed.current and mon.computed.current
        assert before.computed.computed_for_version == before.computed.data_version
        assert not seen.on_request, "a warm default report was computed on a request"

        # An unchanged re-sync moves no data version: nothing is rebuilt.
        rebuilt = len(seen.background)
        await app.sync.full_sync("servers")
        assert (await current_entry(app, seen, DEFAULT_CLUSTER)) is first
        assert len(seen.background) == rebuilt

        # A real change: the sync's end starts the rebuild; the next request finds it ready.
        remove_active_server(sim)
        await app.sync.full_sync("servers")
        after_entry = await current_entry(app, seen, DEFAULT_CLUSTER)
        assert after_entry is not first and after_entry.basis.version > first.basis.version
        after = await cluster(app)
        assert after.computed.current and after.computed.computed_for_version == after_entry.basis.version
        assert after.instances.by_status["ACTIVE"] == before.instances.by_status["ACTIVE"] - 1
        await current_entry(app, seen, DEFAULT_MONITOR)
        assert (await monitor(app)).computed.current
        assert not seen.on_request
        # The other arguments of the cached report are cuts made when answering: no computation either.
        await cluster(app, stuck_after_minutes=5, max_evidence=50, include_rules=True)
        assert not seen.on_request

        # Non-default arguments are computed on request, once per data version.
        await cluster(app, threshold_crit=70.0)
        await cluster(app, threshold_crit=70.0)
        assert seen.on_request == [(cs.NAME, 70.0)]
        remove_active_server(sim)
        await app.sync.full_sync("servers")
        await current_entry(app, seen, DEFAULT_CLUSTER)
        await cluster(app, threshold_crit=70.0)
        assert seen.on_request == [(cs.NAME, 70.0)] * 2


async def test_a_request_during_a_rebuild_gets_the_previous_version_marked(
        make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(servers=40)
    async with open_app_context(make_settings(tmp_path / "during.db"), **sim.connect_kwargs()) as app:
        seen = count_computations(app)
        await app.sync.sync_all()
        old = await current_entry(app, seen, DEFAULT_CLUSTER)
        before = await cluster(app)

        with held_rebuild(monkeypatch) as barrier:
            remove_active_server(sim)
            await app.sync.full_sync("servers")
            await barrier.reached()  # the rebuild runs, held at the barrier
            during = await cluster(app)
            c = during.computed
            assert not c.current and c.computed_for_version == old.basis.version < c.data_version
            assert during.summary.startswith("Not the current snapshot")
            assert f"data version {c.computed_for_version}" in during.summary
            assert "newer snapshot is being summarised" in during.summary.splitlines()[0]
            # the figures and the snapshot block are the previous ones, the latter marked stale
            assert during.instances.by_status == before.instances.by_status
            assert during.snapshot.stale and during.snapshot.as_of == old.basis.snapshot.as_of
            assert {k.kind for k in during.snapshot.kinds if k.status == "stale"} >= {"servers"}
            assert not seen.on_request
            barrier.release()
            new = await current_entry(app, seen, DEFAULT_CLUSTER)
        now = await cluster(app)
        assert now.computed.current and now.computed.computed_for_version == new.basis.version
        assert not now.summary.startswith("Not the current")
        assert now.instances.by_status["ACTIVE"] == before.instances.by_status["ACTIVE"] - 1
        assert not seen.on_request


async def test_the_stuck_rule_follows_the_clock_without_recomputing(
        make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reboot that never finishes (the simulator's clock is frozen) becomes 'stuck' once the clock
    passes an hour, with no data change and no recomputation of the report."""
    sim = make_sim(servers=40)
    sim.freeze()
    async with open_app_context(make_settings(tmp_path / "stuck.db"), **sim.connect_kwargs()) as app:
        seen = count_computations(app)
        victim = next(s for s in sim.state.values("servers")
                      if s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None)
        await asyncio.to_thread(app.cloud.conn.compute.reboot_server, victim["id"], "SOFT")
        assert sim.state.get("servers", victim["id"])["OS-EXT-STS:task_state"] is not None
        await app.sync.sync_all()
        await current_entry(app, seen, DEFAULT_CLUSTER)
        computed = len(seen.background)

        def stuck_names(report: cs.ClusterStatus) -> set[str | None]:
            return {i.name for x in report.issues if x.code == "instances_stuck" for i in x.items}

        now = utcnow()
        monkeypatch.setattr(cs, "utcnow", lambda: now)
        assert victim["name"] not in stuck_names(await cluster(app, max_evidence=50))
        monkeypatch.setattr(cs, "utcnow", lambda: now + timedelta(minutes=61))
        later = await cluster(app, max_evidence=50)
        assert victim["name"] in stuck_names(later)
        (issue,) = [x for x in later.issues if x.code == "instances_stuck"]
        assert any(i.detail and i.detail.startswith("rebooting since") for i in issue.items if i.name == victim["name"])
        assert later.computed.current
        assert len(seen.background) == computed and not seen.on_request


async def test_shutdown_during_a_rebuild_is_clean(make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim(servers=20)
    caplog.set_level(logging.INFO)
    with held_rebuild(monkeypatch) as barrier:
        async with open_app_context(make_settings(tmp_path / "stop.db"), **sim.connect_kwargs()) as app:
            await app.sync.sync_all()
            await barrier.reached()
            assert app.warmer.running
            await app.warmer.stop()  # what the context's exit does first
            assert not app.warmer.running
            # The rebuild's read cannot be interrupted on its thread: it ends when released, and the
            # database closes after it (Database.dispose waits for its read threads).
            barrier.release()
        assert not app.warmer.running
    bad = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


async def test_a_replica_rebuilds_when_the_data_version_moves(make_sim: Any, tmp_path: Path) -> None:
    """A process that does not poll (another replica, the leader elsewhere) sees the data version move
    and rebuilds in the background: its requests find the report ready."""
    sim = make_sim(servers=40)
    settings = make_settings(tmp_path / "replica.db")
    async with open_app_context(settings, **sim.connect_kwargs()) as writer:
        await writer.sync.sync_all()
        async with open_app_context(settings, **sim.connect_kwargs()) as replica:
            replica.warmer.interval = 0.05  # look often: the test waits for states, not for time
            seen = count_computations(replica)
            first = await current_entry(replica, seen, DEFAULT_CLUSTER)
            remove_active_server(sim)
            await writer.sync.full_sync("servers")  # the writer's process, not the replica's
            entry = await current_entry(replica, seen, DEFAULT_CLUSTER)
            assert entry.basis.version > first.basis.version
            report = await cluster(replica)
            assert report.computed.current and not seen.on_request


async def _round_done(app: Any, seen: Any) -> None:
    """Wait until the warmer has brought everything it watches to the data's current basis."""
    async def wait() -> None:
        while True:
            seen.rounds.clear()
            if app.warmer.built == (await read_basis(app, WATCHED)).key:
                return
            await seen.rounds.wait()

    await asyncio.wait_for(wait(), 120)


async def test_get_clouds_totals_are_counted_after_a_sync_not_on_a_request(make_sim: Any, tmp_path: Path) -> None:
    """The warmer counts get_clouds' totals again when their kinds' data moved, so the first call after a
    sync reads kept totals (``clouds.warm`` finds nothing left to count) and they are the new ones."""
    sim = make_sim(servers=40)
    async with open_app_context(make_settings(tmp_path / "clouds.db"), **sim.connect_kwargs()) as app:
        seen = count_computations(app)
        await app.sync.sync_all()
        await _round_done(app, seen)
        assert not await clouds.warm(app), "the totals were left for the first request to count"
        before = (await clouds.cloud_entry(app)).instances

        remove_active_server(sim)
        await app.sync.full_sync("servers")
        await _round_done(app, seen)
        assert not await clouds.warm(app), "the totals were left for the first request to count"
        assert (await clouds.cloud_entry(app)).instances == before - 1


async def test_get_clouds_serves_the_previous_totals_named_as_such_while_it_recounts(
        make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A get_clouds call that finds a kind's kept totals older than its data (the warmer has not counted
    the sync that just ended) answers with the previous totals, names the kind in ``recounting`` and its
    summary, and counts in the background, not on the request; the next call has the new totals."""
    sim = make_sim(servers=40)
    async with open_app_context(make_settings(tmp_path / "clouds.db"), **sim.connect_kwargs()) as app:
        seen = count_computations(app)
        await app.sync.sync_all()
        await _round_done(app, seen)
        await app.warmer.stop()  # this test is the one to find the totals behind
        first = await clouds.cloud_entry(app)
        assert first.recounting == []

        remove_active_server(sim)
        await app.sync.full_sync("servers")
        counted: list[str] = []
        real = clouds.warm

        async def counting(view: Any) -> bool:
            counted.append(view.cloud_name)
            return await real(view)

        monkeypatch.setattr(clouds, "warm", counting)
        report = await clouds.clouds_report(app, 100, 0)
        (entry,) = report.clouds
        assert entry.instances == first.instances and entry.recounting == ["servers"]
        assert "previous sync" in report.summary and "servers" in report.summary
        await app.tasks.join()
        assert counted == [app.cloud_name]  # once, in the background
        again = await clouds.cloud_entry(app)
        assert again.instances == first.instances - 1 and again.recounting == []
