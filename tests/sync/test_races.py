"""The snapshot never tombstones a live resource, whatever the interleaving of full, incremental and
targeted runs, lease handovers and former lease holders (issue 9, items 1-3).

Interleavings are forced with asyncio events in a writer subclass (:class:`Hooked`), never with sleeps;
lease expiry is driven with explicit ``now`` values, not by waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.context import open_app_context
from app.db.engine import Database, utcnow
from app.db.writer import SnapshotWriter
from app.resources.registry import all_specs
from app.sync.lease import Lease
from app.services.sync_status import sync_status
from tests.backend import sqlite_only
from tests.sync.helpers import count_rows, make_settings, query

SERVERS = all_specs()["servers"]
Hook = Callable[[str, int], Awaitable[None]]


class Hooked(SnapshotWriter):
    """A SnapshotWriter whose page writes and tombstone passes can be held at chosen points."""

    def __init__(self, db: Any, *, before_page: Hook | None = None, after_page: Hook | None = None,
                 before_tombstone: Hook | None = None) -> None:
        super().__init__(db)
        self.before_page, self.after_page, self.before_tombstone = before_page, after_page, before_tombstone

    async def upsert_page(self, spec: Any, cloud: str, raws: Any, sync_id: int, now: Any, **kw: Any) -> Any:
        if self.before_page:
            await self.before_page(spec.kind, sync_id)
        counts = await super().upsert_page(spec, cloud, raws, sync_id, now, **kw)
        if self.after_page:
            await self.after_page(spec.kind, sync_id)
        return counts

    async def tombstone_missing(self, spec: Any, cloud: str, sync_id: int, now: Any, **kw: Any) -> int:
        if self.before_tombstone:
            await self.before_tombstone(spec.kind, sync_id)
        return await super().tombstone_missing(spec, cloud, sync_id, now, **kw)


def live_ids(db_url: str) -> set[str]:
    return {r[0] for r in query(db_url, "SELECT id FROM servers WHERE deleted_at IS NULL")}


async def test_refresh_fetched_before_a_full_listing_but_written_after_it_tombstones_nothing(
        make_sim: Any, make_stack: Any, db_url: str) -> None:
    """The reported race: the refresh's run id is older than the full run's, its GET happened before
    the listing, its write lands after the listing's pages and before the tombstone pass."""
    sim = make_sim(servers=40)
    st = await make_stack(sim, page_size=15)
    assert (await st.service.full_sync("servers")).ok
    victim = sorted(sim.state.coll("servers"))[7]
    refresh_fetched, listing_written, refresh_written = asyncio.Event(), asyncio.Event(), asyncio.Event()
    full_run: dict[str, int] = {}

    async def before_page(kind: str, sync_id: int) -> None:
        if sync_id != full_run.get("id"):  # the targeted run: it has fetched; hold until the listing wrote
            refresh_fetched.set()
            await listing_written.wait()

    async def after_page(kind: str, sync_id: int) -> None:
        if sync_id == full_run.get("id"):
            full_run["pages"] = full_run.get("pages", 0) + 1
        else:
            refresh_written.set()

    async def before_tombstone(kind: str, sync_id: int) -> None:
        listing_written.set()
        await refresh_written.wait()

    st.service.writer = Hooked(st.db, before_page=before_page, after_page=after_page,
                               before_tombstone=before_tombstone)
    refresh = asyncio.create_task(st.service.refresh("servers", [victim]))
    await refresh_fetched.wait()
    start = st.service.runs.start

    async def remember(kind: str, mode: str, *a: Any, **kw: Any) -> Any:
        result = await start(kind, mode, *a, **kw)
        full_run["id"] = result.run_id
        return result

    st.service.runs.start = remember  # type: ignore[method-assign]
    full = await st.service.full_sync("servers")
    targeted = await refresh
    assert full.ok and targeted.ok
    assert targeted.run_id < full.run_id  # the refresh's id is the older one, as in the report
    assert full.tombstoned == 0 and full_run["pages"] == 3
    assert live_ids(db_url) == set(sim.state.coll("servers"))


async def test_refresh_observed_during_a_listing_keeps_the_row_alive(make_sim: Any, make_stack: Any,
                                                                      db_url: str) -> None:
    """A resource the listing missed (created after its page went by) but a refresh saw during the
    listing is not tombstoned by that listing, whatever the two runs' ids."""
    sim = make_sim(servers=30)
    st = await make_stack(sim, page_size=10)
    assert (await st.service.full_sync("servers")).ok
    spec, w = SERVERS, st.service.writer
    listed_since = utcnow()
    full = await st.service.runs.start("servers", "full")
    ids = sorted(sim.state.coll("servers"))
    raws = [sim.state.coll("servers")[i] for i in ids]
    # The listing saw every server but the last one (it moved past its page before it appeared) ...
    await w.upsert_page(spec, "test", [dict(r) for r in raws[:-1]], full.run_id, utcnow(),
                        observed_at=listed_since + timedelta(milliseconds=1))
    # ... and a refresh whose run is older saw it alive during the listing.
    targeted_id = full.run_id - 1
    await w.upsert_page(spec, "test", [dict(raws[-1])], targeted_id, utcnow(),
                        observed_at=listed_since + timedelta(milliseconds=2))
    assert await w.tombstone_missing(spec, "test", full.run_id, utcnow(), listed_since=listed_since) == 0
    assert live_ids(db_url) == set(ids)


async def test_an_older_observation_never_undoes_a_newer_one(make_sim: Any, make_stack: Any, db_url: str) -> None:
    """Writes commit out of order: a GET that found the server gone, then a listing page fetched
    before it; and a fresh state, then a stale one. The newest observation wins either way."""
    sim = make_sim(servers=10)
    st = await make_stack(sim)
    assert (await st.service.full_sync("servers")).ok
    spec, w = SERVERS, st.service.writer
    sid = sorted(sim.state.coll("servers"))[0]
    raw = dict(sim.state.coll("servers")[sid])
    t0 = utcnow()
    assert await w.mark_deleted(spec, "test", [sid], utcnow(), observed_at=t0 + timedelta(seconds=2)) == 1
    stale = await w.upsert_page(spec, "test", [raw], 10_000, utcnow(), observed_at=t0 + timedelta(seconds=1))
    assert (stale.added, stale.stale) == (0, 1) and sid not in live_ids(db_url)
    revived = await w.upsert_page(spec, "test", [raw], 10_001, utcnow(), observed_at=t0 + timedelta(seconds=3))
    assert revived.added == 1 and sid in live_ids(db_url)

    await w.upsert_page(spec, "test", [{**raw, "status": "ERROR"}], 10_002, utcnow(),
                        observed_at=t0 + timedelta(seconds=5))
    older = await w.upsert_page(spec, "test", [{**raw, "status": "ACTIVE"}], 10_003, utcnow(),
                                observed_at=t0 + timedelta(seconds=4))
    assert older.stale == 1
    assert query(db_url, "SELECT status FROM servers WHERE id=:i", i=sid)[0][0] == "ERROR"
    # A 404 older than the newest alive observation does not tombstone it either.
    assert await w.mark_deleted(spec, "test", [sid], utcnow(), observed_at=t0 + timedelta(seconds=4)) == 0
    assert sid in live_ids(db_url)


async def test_a_poller_that_lost_its_lease_writes_nothing_more(make_sim: Any, make_stack: Any, db_url: str,
                                                                caplog: Any) -> None:
    """A holds the lease and is paused mid-listing; its lease expires and B takes it over (epoch + 1),
    deletes nothing. Resumed, A writes no page, tombstones nothing, does not rewrite its run's status
    (B recorded it abandoned), and says so in one WARNING line."""
    sim = make_sim(servers=60)
    a = await make_stack(sim, page_size=10, lease_ttl=30.0)
    b = await make_stack(sim, page_size=10, lease_ttl=30.0)
    lease_a, lease_b = Lease(a.db, "poller:test", ttl=30.0), Lease(b.db, "poller:test", ttl=30.0)
    assert await lease_a.acquire()
    a.service.fence = lease_a.fence()
    assert (await a.service.full_sync("servers")).ok
    before = live_ids(db_url)
    assert len(before) == 60

    paused, resume = asyncio.Event(), asyncio.Event()
    pages = 0

    async def after_page(kind: str, sync_id: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 1:
            paused.set()
            await resume.wait()

    a.service.writer = Hooked(a.db, after_page=after_page)
    # Half the fleet disappears while A lists: A's tombstone pass would have removed them from its page 1 view.
    for sid in sorted(sim.state.coll("servers"))[:30]:
        sim.state.remove("servers", sid)
    run_a = asyncio.create_task(a.service.full_sync("servers"))
    await paused.wait()

    later = utcnow() + timedelta(seconds=31)  # A's lease has expired (driven, not waited for)
    assert await lease_b.acquire(now=later)
    assert lease_b.epoch == lease_a.epoch + 1
    b.service.fence = lease_b.fence()
    assert await b.service.runs.abandon_running(fence=b.service.fence) == 1
    resume.set()
    with caplog.at_level(logging.INFO):
        result = await run_a
    assert result.status == "failed" and "lease lost" in (result.error or "")
    assert pages == 1  # nothing after the takeover
    assert live_ids(db_url) == before  # A tombstoned nothing
    status, error = query(db_url, "SELECT status, error FROM sync_runs WHERE id=:i", i=result.run_id)[0]
    assert status == "failed" and "abandoned" in error  # B's record stands
    lost = [r for r in caplog.records if "lease" in r.getMessage() and r.name.startswith("app.")]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING and lost[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # B, the holder, converges on the truth; A's next run is refused before it writes anything.
    assert (await b.service.full_sync("servers")).ok
    assert live_ids(db_url) == set(sim.state.coll("servers"))
    refused = await a.service.full_sync("servers")
    assert refused.status == "failed" and refused.run_id is None
    assert count_rows(db_url, "sync_runs", "status = 'running'") == 0


async def test_writes_renew_the_lease_and_renewal_does_not_queue_behind_them(make_sim: Any, make_stack: Any,
                                                                            db_url: str) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim, lease_ttl=30.0)
    lease = Lease(st.db, "poller:test", ttl=30.0)
    t0 = utcnow()
    assert await lease.acquire(now=t0 - timedelta(seconds=25))  # 5 s left
    st.service.fence = lease.fence()
    assert (await st.service.full_sync("flavors")).ok
    expires = query(db_url, "SELECT expires_at FROM poller_lease")[0][0]
    assert str(expires) >= str(t0 + timedelta(seconds=29))  # every fenced write extended it

    # The snapshot writer's in-process queue is busy: renewal goes around it.
    async with st.db._write_lock:
        assert await asyncio.wait_for(lease.renew(), timeout=60)


@sqlite_only
async def test_a_writer_blocked_by_another_process_says_since_when(make_sim: Any, db_url: str) -> None:
    """Another connection holds the database's write lock (a process stopped mid-transaction): our
    writes time out, readiness and get_sync_status say since when, and the first write that goes
    through again clears it. Readers are not affected."""
    sim = make_sim(servers=5)
    settings = make_settings(db_url, poller_enabled=False)
    async with open_app_context(settings, **sim.connect_kwargs()) as app:
        assert (await app.sync.full_sync("flavors")).ok
        blocked_db = Database(db_url, busy_timeout_ms=200)
        original = app.db
        app.db = app.sync.db = app.sync.writer.db = app.sync.runs.db = blocked_db
        try:
            other = sqlite3.connect(str(make_url(db_url).database), isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # held, as by a process stopped mid-transaction
            try:
                with pytest.raises(OperationalError, match="database is locked"):
                    await app.sync.full_sync("flavors")
                since = blocked_db.writer_blocked_since
                assert since is not None
                ready = await app.readiness()
                assert not ready["ready"] and ready["writer_blocked_since"] == since.isoformat() + "Z"
                assert ready["reason"].startswith("writer blocked since") and ready["reasons"][0]["state"] == "blocked"
                status = await sync_status(app, "flavors", 5)
                assert status.writer_blocked_since == since
                assert [k.kind for k in status.snapshot.kinds] == ["flavors"]  # reads still answer
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert (await app.sync.full_sync("flavors")).ok
            assert blocked_db.writer_blocked_since is None
        finally:
            app.db = app.sync.db = app.sync.writer.db = app.sync.runs.db = original
            await blocked_db.dispose()
