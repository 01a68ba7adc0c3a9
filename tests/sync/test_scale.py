"""Scale: 10,000 servers through the whole path; readers stay unblocked while the poller writes."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from tests.sync.helpers import count_rows


@pytest.mark.slow
async def test_ten_thousand_servers_and_unblocked_readers(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=10_000)
    sim.advance(3600)
    st = await make_stack(sim, page_size=1000)
    latencies: list[float] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            async with st.db.reader() as conn:
                await conn.execute(text("SELECT count(*) FROM servers WHERE deleted_at IS NULL"))
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(reader())
    first = await st.service.full_sync("servers")
    done.set()
    await task
    assert first.ok and first.seen == first.added == 10_000, first.error
    assert count_rows(db_url, "servers", "deleted_at IS NULL") == 10_000
    assert first.duration_s < 90
    assert latencies and max(latencies) < 1.0, max(latencies)

    second = await st.service.full_sync("servers")
    assert (second.added, second.changed, second.tombstoned) == (0, 0, 0)
    inc = await st.service.incremental_sync("servers")
    assert inc.mode == "incremental" and inc.ok and inc.seen == 0
