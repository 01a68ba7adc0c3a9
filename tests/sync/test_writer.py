"""The generic writer in isolation (no simulator): bulk upsert classification and retention."""

from __future__ import annotations

from datetime import timedelta

from app.db.engine import Database, utcnow
from app.db.writer import SnapshotWriter
from app.resources.registry import get_spec
from app.sync.runs import RunLog
from tests.sync.helpers import count_rows, query


def _flavor(i: int, **extra) -> dict:
    return {"id": f"f-{i}", "name": f"m1.{i}", "vcpus": i % 8 + 1, "ram": 1024, "disk": 10, **extra}


async def test_upsert_classifies_and_skips_untouched_rows(db_url) -> None:
    db = Database(db_url)
    w, runs, spec = SnapshotWriter(db), RunLog(db, "c"), get_spec("flavors")
    r1 = await runs.start("flavors", "full")
    c = await w.upsert_page(spec, "c", [_flavor(i) for i in range(2500)] + [_flavor(1)], r1.run_id, utcnow())
    assert (c.seen, c.added, c.changed, c.unchanged) == (2500, 2500, 0, 0)
    r2 = await runs.start("flavors", "full")
    page = [_flavor(i) for i in range(2500)]
    page[7]["vcpus"] = 64
    page[8]["adminPass"] = "not-a-change"  # secrets are stripped before comparing
    c = await w.upsert_page(spec, "c", page, r2.run_id, utcnow())
    assert (c.added, c.changed, c.unchanged) == (0, 1, 2499)
    assert count_rows(db_url, "flavors", f"last_sync_id={r2.run_id}") == 2500
    assert query(db_url, "SELECT vcpus FROM flavors WHERE id='f-7'")[0][0] == 64
    # another cloud label is independent
    c = await w.upsert_page(spec, "other", page[:3], r2.run_id, utcnow())
    assert c.added == 3
    await db.dispose()


async def test_tombstone_mark_deleted_and_purge(db_url) -> None:
    db = Database(db_url)
    w, runs, spec = SnapshotWriter(db), RunLog(db, "c"), get_spec("flavors")
    r1 = await runs.start("flavors", "full")
    await w.upsert_page(spec, "c", [_flavor(i) for i in range(10)], r1.run_id, utcnow())
    r2 = await runs.start("flavors", "full")
    await w.upsert_page(spec, "c", [_flavor(i) for i in range(8)], r2.run_id, utcnow())
    assert await w.tombstone_missing(spec, "c", r2.run_id, utcnow()) == 2
    assert await w.tombstone_missing(spec, "c", r2.run_id, utcnow()) == 0
    assert await w.mark_deleted(spec, "c", ["f-0", "f-0", "f-9", "nope"], utcnow()) == 1
    assert count_rows(db_url, "flavors", "deleted_at IS NULL") == 7
    assert await w.purge_tombstones(spec, "c", utcnow() - timedelta(days=1)) == 0
    assert await w.purge_tombstones(spec, "c", utcnow() + timedelta(seconds=1)) == 3
    assert count_rows(db_url, "flavors") == 7
    await db.dispose()


async def test_run_log_purge_keeps_latest_success(db_url) -> None:
    db = Database(db_url)
    runs = RunLog(db, "c")
    old = utcnow() - timedelta(days=30)
    for status in ("succeeded", "failed", "succeeded"):
        r = await runs.start("flavors", "full", now=old)
        r.status = status
        await runs.finish(r)
    assert await runs.purge(utcnow() - timedelta(days=7)) == 2
    assert await runs.last_success("flavors", ["full"]) == old
    await db.dispose()
