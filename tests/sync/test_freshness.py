"""Freshness per kind and combined, from sync_runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.sync.freshness import freshness, kinds_freshness, wait_for_first_sync


async def test_never_synced_then_fresh_then_stale(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim, poll_intervals={"flavors": 60})
    f0 = await freshness(st.db, st.settings, ["flavors"])
    assert f0.never_synced and f0.stale and f0.as_of is None and f0.missing == ("flavors",)

    r = await st.service.full_sync("flavors")
    f1 = (await kinds_freshness(st.db, st.settings, ["flavors"]))["flavors"]
    assert not f1.stale and not f1.never_synced and f1.as_of == r.finished_at
    assert f1.age_seconds is not None and f1.age_seconds < 5 and f1.interval_seconds == 60

    later = r.finished_at + timedelta(seconds=121)
    f2 = (await kinds_freshness(st.db, st.settings, ["flavors"], now=later))["flavors"]
    assert f2.stale and f2.age_seconds > 120

    sim.inject(r"/flavors/detail$", status=500)
    failed = await st.service.full_sync("flavors")
    assert failed.status == "failed"
    f3 = (await kinds_freshness(st.db, st.settings, ["flavors"]))["flavors"]
    assert f3.stale and f3.as_of == r.finished_at and f3.last_status == "failed" and f3.last_error


async def test_combined_freshness_oldest_wins(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    a = await st.service.full_sync("flavors")
    await asyncio.sleep(0.05)
    await st.service.full_sync("servers")
    f = await freshness(st.db, st.settings, ["servers", "flavors", "keypairs"])
    assert f.as_of == a.finished_at
    assert f.never_synced and f.missing == ("keypairs",) and f.stale
    assert set(f.kinds) == {"servers", "flavors", "keypairs"}


async def test_wait_for_first_sync(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    f = await wait_for_first_sync(st.db, st.settings, ["flavors"], timeout=0.3)
    assert f.never_synced and 0.25 <= loop.time() - t0 < 2
    task = asyncio.create_task(st.service.full_sync("flavors"))
    f = await wait_for_first_sync(st.db, st.settings, ["flavors"], timeout=10)
    assert not f.never_synced and not f.stale
    await task
