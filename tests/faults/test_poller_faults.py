"""The real Poller (APScheduler jobs under the lease, tiny intervals) for a few seconds while the
simulator fails a share of requests in every way it can; then the faults stop and it converges."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from app.context import open_app_context
from app.sync.scheduler import Poller
from tests.faults.helpers import live_ids, runs, sim_ids
from tests.tools.conftest import make_settings

KINDS = ["servers", "flavors", "networks", "volumes", "hypervisors"]


async def _until(pred, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(step)
    return False


async def test_poller_survives_faults_and_converges(make_sim, tmp_path: Path) -> None:
    sim = make_sim(servers=40, seed=13)
    db = tmp_path / "p.db"
    settings = make_settings(db, page_size=10, api_timeout=0.3, lease_ttl=3.0, lease_renew_interval=0.2,
                             poll_intervals={k: 0.3 for k in KINDS}, full_reconcile_interval=1.0)
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        poller = Poller(settings, ctx.db, ctx.sync, kinds=KINDS)
        await poller.start()
        try:
            assert await _until(lambda: poller.is_leader, 5)
            # every kind fails part of the time, each in a different way
            sim.inject(r"/servers/detail$", action="drop", rate=0.3)
            sim.inject(r"/flavors/detail$", status=500, rate=0.5)
            sim.inject(r"/v2\.0/networks$", action="truncate", rate=0.5)
            sim.inject(r"/volumes/detail$", action="malformed", rate=0.5)
            sim.inject(r"/os-hypervisors/detail$", action="hang", delay=1.0, rate=0.3)
            sim.inject(r"/servers/detail$", status=503, rate=0.5)  # with the drop: bursts beyond retries

            def seen_both() -> bool:  # failures recorded, a healthy attempt between them, every kind polled
                got = runs(db, "id > 0")
                return ({r["status"] for r in got} >= {"failed", "succeeded"}
                        and {r["kind"] for r in got} == set(KINDS))

            # a state to reach, not a time to wait (a loaded machine stretches every attempt); bounded
            assert await _until(seen_both, 120, step=0.2), runs(db, "id > 0")
            under_faults = runs(db, "id > 0")
            assert poller.is_leader and poller._scheduler is not None and poller._scheduler.running
            assert poller.job_errors == {}, "OpenStack failures are recorded runs, never job crashes"
            failed = [r for r in under_faults if r["status"] == "failed"]
            ok = [r for r in under_faults if r["status"] == "succeeded"]
            assert failed and all(r["error"] for r in failed), "failed runs are recorded with their error"
            assert ok, "healthy attempts between faults still succeed"
            assert {r["kind"] for r in under_faults} == set(KINDS), "every kind keeps being polled"
            assert sum(1 for r in under_faults if r["tombstoned"]) == 0  # nothing vanished from the cloud

            # the faults stop: each kind's next run succeeds and the snapshot equals the cloud
            sim.clear_faults()
            mark = max(r["id"] for r in runs(db))
            for sid in list(sim.state.coll("servers"))[:2]:
                sim.state.remove("servers", sid)

            def converged() -> bool:
                done = {r["kind"] for r in runs(db, f"id > {mark} AND status='succeeded' AND mode='full'")}
                return set(KINDS) <= done and live_ids(db) == sim_ids(sim)

            assert await _until(converged, 15), live_ids(db) ^ sim_ids(sim)
            for kind in ("flavors", "networks", "volumes", "hypervisors"):
                table = "networks" if kind == "networks" else kind
                assert live_ids(db, table) == sim_ids(sim, kind), kind
            assert poller.job_errors == {}
        finally:
            await poller.stop()
        assert not runs(db, "status='running'"), "stop() records cancelled runs as failed"
