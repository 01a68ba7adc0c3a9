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


def _server(i: int, ip: str, status: str = "ACTIVE") -> dict:
    return {"id": f"s-{i}", "name": f"vm-{i}", "status": status, "addresses": {"net": [{"addr": ip}]}}


async def test_link_rows_follow_their_parent_through_its_life(db_url) -> None:
    """Link rows are replaced for changed parents, written once for new and revived ones (the writer
    skips the delete for rows that were not live), and go with tombstoning, whatever the path."""
    db = Database(db_url)
    w, runs, spec = SnapshotWriter(db), RunLog(db, "c"), get_spec("servers")

    def links() -> list[tuple]:
        return sorted(query(db_url, "SELECT server_id, ip_address FROM server_addresses WHERE cloud = 'c'"))

    r = await runs.start("servers", "full")
    await w.upsert_page(spec, "c", [_server(i, f"10.0.0.{i}") for i in range(4)], r.run_id, utcnow())
    assert links() == [(f"s-{i}", f"10.0.0.{i}") for i in range(4)]
    # s-0 changes its address, s-1 is unchanged, s-2 is reported gone, s-3 is missing from the listing
    r = await runs.start("servers", "full")
    c = await w.upsert_page(spec, "c", [_server(0, "10.9.9.9"), _server(1, "10.0.0.1"),
                                        _server(2, "10.0.0.2", status="DELETED")], r.run_id, utcnow())
    assert (c.changed, c.unchanged, c.tombstoned) == (1, 1, 1)
    assert await w.tombstone_missing(spec, "c", r.run_id, utcnow()) == 1
    assert links() == [("s-0", "10.9.9.9"), ("s-1", "10.0.0.1")]
    # revived rows get their link rows back exactly once, in one page with a changed and a new row
    r = await runs.start("servers", "full")
    c = await w.upsert_page(spec, "c", [_server(i, f"10.1.0.{i}") for i in range(6)], r.run_id, utcnow())
    assert (c.added, c.changed) == (4, 2)
    assert links() == [(f"s-{i}", f"10.1.0.{i}") for i in range(6)]
    await db.dispose()


def _full_server(i: int, **over: object) -> dict:
    s = {"id": f"s-{i}", "name": f"vm-{i}", "status": "ACTIVE", "OS-EXT-STS:task_state": None,
         "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1, "OS-EXT-SRV-ATTR:host": f"c{i % 3}",
         "OS-EXT-SRV-ATTR:hypervisor_hostname": f"c{i % 3}.example", "OS-EXT-AZ:availability_zone": "nova",
         "tenant_id": f"p{i % 4}", "user_id": "u1", "flavor": {"id": "f1", "original_name": "m1.small", "vcpus": 1,
         "ram": 2048, "disk": 20}, "image": {"id": "img-1"}, "key_name": None, "hostId": "h1", "locked": False,
         "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
         "OS-SRV-USG:launched_at": "2026-01-01T00:01:00.000000", "OS-SRV-USG:terminated_at": None,
         "addresses": {"net": [{"addr": f"10.0.0.{i}", "version": 4}]}, "metadata": {"k": "v"}}
    s.update(over)
    return s


async def test_a_changed_row_equals_a_fresh_write_of_its_new_version(db_url) -> None:
    """Changed live rows are updated in the columns that differ only (SQLite): every column, the raw
    text and the link rows must end up exactly as a first write of the new objects leaves them."""
    db = Database(db_url)
    w, runs, spec = SnapshotWriter(db), RunLog(db, "c"), get_spec("servers")
    before = [_full_server(i) for i in range(8)]
    after = [
        _full_server(0, status="SHUTOFF", **{"OS-EXT-STS:vm_state": "stopped", "OS-EXT-STS:power_state": 4,
                                             "updated": "2026-02-01T00:00:00Z"}),
        _full_server(1, **{"OS-EXT-SRV-ATTR:host": "c9", "OS-EXT-SRV-ATTR:hypervisor_hostname": "c9.example"}),
        _full_server(2, name="renamed", flavor={"id": "f2", "original_name": "m1.large", "vcpus": 4, "ram": 8192,
                                                "disk": 80}),
        _full_server(3, metadata={"k": "other"}),  # a change of raw only: no column differs
        _full_server(4, addresses={"net": [{"addr": "10.9.9.9", "version": 4}]}, locked=True, key_name="k1"),
        _full_server(5, **{"OS-EXT-STS:task_state": "deleting", "OS-SRV-USG:terminated_at": "2026-03-01T00:00:00"}),
        _full_server(6),  # unchanged
        _full_server(7, tenant_id="p-new", hostId="", image={"id": "img-2"}),
    ]
    r1 = await runs.start("servers", "full")
    await w.upsert_page(spec, "a", before, r1.run_id, utcnow())
    r2 = await runs.start("servers", "full")
    c = await w.upsert_page(spec, "a", after, r2.run_id, utcnow(), log_changes=True)
    assert (c.added, c.changed, c.unchanged) == (0, 7, 1)
    await w.upsert_page(spec, "b", after, r2.run_id, utcnow())
    cols = ", ".join(["id", "raw", *spec.columns])
    rows = {cloud: sorted(query(db_url, f"SELECT {cols} FROM servers WHERE cloud = :c", c=cloud)) for cloud in "ab"}
    assert rows["a"] == rows["b"] and len(rows["a"]) == 8
    assert query(db_url, "SELECT status, power_state_name FROM servers WHERE cloud = 'a' AND id = 's-0'") == [
        ("SHUTOFF", "SHUTDOWN")]
    links = {cloud: sorted(query(db_url, "SELECT server_id, ip_address FROM server_addresses WHERE cloud = :c",
                                 c=cloud)) for cloud in "ab"}
    assert links["a"] == links["b"] and ("s-4", "10.9.9.9") in links["a"]
    assert count_rows(db_url, "servers", f"cloud = 'a' AND last_sync_id = {r2.run_id}") == 8
    await db.dispose()
