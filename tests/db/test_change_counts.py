"""The per-bucket counts of the change log (app/db/change_counts.py): written by the change-log flush,
kept by the retention purge, and a window's counts equal a full count of its change rows for every
window, kind/change filter and set of projects; on whichever backend runs."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from app.db import change_counts as cc
from app.db.bookkeeping import snapshot_change_counts, snapshot_changes
from app.db.changelog import ChangeBatch, purge
from app.db.engine import Database
from app.db.migrate import downgrade, upgrade
from app.resources.registry import all_specs, load_all_tables
from tests import backend

REVISION = "0015_change_counts"  # the migration that adds the counts
T0 = datetime(2026, 11, 30, 9, 0)
PROJECTS = ["p1", "p2", "p3", None]
STATUSES = ["ACTIVE", "SHUTOFF", "ERROR", None]


def _values(rng: random.Random) -> dict[str, Any]:
    return {"name": f"vm-{rng.randrange(1000)}", "project_id": rng.choice(PROJECTS),
            "status": rng.choice(STATUSES), "host": rng.choice(["h1", "h2"])}


async def write_changes(db: Database, rng: random.Random, n: int) -> None:
    """``n`` changes in bursts over about three hours (several per second in a burst, as a sync
    writes them), each burst one transaction like a sync page, through the change-log flush."""
    specs = all_specs()
    at = T0 + timedelta(seconds=rng.randrange(600))
    while n > 0:
        batch = ChangeBatch(specs[rng.choice(["servers", "volumes"])], "c1", None)
        for _ in range(min(n, rng.randrange(1, 40))):
            rid, old, new = f"r{rng.randrange(10**6)}", _values(rng), _values(rng)
            op = rng.choice(["created", "changed", "changed", "deleted"])
            if op == "created":
                batch.created(rid, at, new)
            elif op == "changed":
                new["project_id"] = old["project_id"]
                batch.changed(rid, at, old, new)
            else:
                batch.deleted([{"id": rid, **old}], at)
            at += timedelta(milliseconds=rng.randrange(1, 900))
            n -= 1
        async with db.writer() as conn:
            await batch.flush(conn)
        at += timedelta(seconds=rng.choice([1, 20, 59, 61, 300, 1900]))


def everything(conn: Connection) -> tuple[list[Any], list[dict[str, Any]]]:
    t, c = snapshot_changes, snapshot_change_counts
    rows = [dict(r) for r in conn.execute(select(t).where(t.c.cloud == "c1")).mappings()]
    kept = [dict(r) for r in conn.execute(select(c).where(c.c.cloud == "c1")).mappings()]
    return rows, kept


def full_count(rows: list[Any], lo: datetime, hi: datetime, kinds: list[str], change: str | None,
               projects: list[str] | None) -> cc.Tally:
    out: cc.Tally = Counter()
    for r in rows:
        if (lo <= r["at"] < hi and (not kinds or r["kind"] in kinds) and (not change or r["change"] == change)
                and (projects is None or r["project_id"] in projects)):
            out[(r["kind"], r["change"], *cc.transition(r["change"], r["before"], r["after"]))] += 1
    return out


def window(kinds: list[str], change: str | None, projects: list[str] | None) -> cc.Window:
    return cc.Window("c1", kinds, change, projects)


def as_set(kept: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {tuple(r[k] for k in (*cc.KEY, "n", "first_at", "last_at")) for r in kept}


async def check_windows(db: Database, rng: random.Random, rows: list[Any], tries: int) -> None:
    edges = sorted({r["at"] for r in rows})
    for i in range(tries):
        # window edges: on a change's own time, just past it, on a bucket boundary, or anywhere
        def when() -> datetime:
            pick = rng.randrange(4)
            if pick == 0:
                return rng.choice(edges)
            if pick == 1:
                return rng.choice(edges) + timedelta(microseconds=1)
            if pick == 2:
                return cc.floor(T0 + timedelta(seconds=rng.randrange(4 * 3600)), rng.choice(cc.WIDTHS))
            return T0 + timedelta(microseconds=rng.randrange(4 * 3600 * 10**6))
        lo, hi = sorted((when(), when()))
        if i % 5 == 0:
            lo, hi = T0 - timedelta(days=1), T0 + timedelta(days=1)
        kinds = rng.choice([[], ["servers"], ["servers", "volumes"]])
        change = rng.choice([None, "created", "changed", "deleted"])
        projects = rng.choice([None, None, ["p1"], ["p2", "p3"], []])
        got = await db.read(cc.window_counts, window(kinds, change, projects), lo, hi)
        want = full_count(rows, lo, hi, kinds, change, projects)
        assert +got == want, (lo, hi, kinds, change, projects)


async def test_counts_match_a_full_count_for_every_window_and_after_purges(db: Database) -> None:
    rng = random.Random(7)
    await write_changes(db, rng, 1500)
    rows, kept = await db.read(everything)
    assert len(rows) > 1000
    assert as_set(kept) == as_set(cc.count_rows(cc.tally(rows)))  # the flush kept them exact
    await check_windows(db, rng, rows, 300)

    # the retention purge: cuts inside a burst, on a minute, on an hour; counts stay exact
    for cut in (rng.choice(rows)["at"] + timedelta(microseconds=1), T0 + timedelta(minutes=47),
                T0 + timedelta(hours=1), rng.choice(rows)["at"]):
        async with db.writer() as conn:
            await purge(conn, "c1", cut)
        rows, kept = await db.read(everything)
        assert all(r["at"] >= cut for r in rows)
        assert as_set(kept) == as_set(cc.count_rows(cc.tally(rows)))
        await check_windows(db, rng, rows, 40)


async def test_a_window_ending_now_reads_no_change_rows(db: Database) -> None:
    """The common call (the last 24 h, up to now) is answered from the count rows alone, whatever
    the buckets its start and end cut."""
    rng = random.Random(3)
    await write_changes(db, rng, 300)
    rows, _kept = await db.read(everything)
    raw_reads: list[Any] = []
    real = cc._raw

    def spy(conn: Connection, w: cc.Window, ranges: list[Any]) -> cc.Tally:
        raw_reads.append(ranges)
        return real(conn, w, ranges)

    now = max(r["at"] for r in rows) + timedelta(seconds=7)
    cc._raw = spy  # type: ignore[assignment]
    try:
        got = await db.read(cc.window_counts, window([], None, None), now - timedelta(hours=24), now)
    finally:
        cc._raw = real  # type: ignore[assignment]
    assert +got == full_count(rows, now - timedelta(hours=24), now, [], None, None)
    assert raw_reads == []


async def test_the_migration_counts_the_change_rows_already_kept(tmp_path: Path) -> None:
    load_all_tables()
    url = backend.new_database_url(tmp_path, "m.db")
    d = Database(url)
    await write_changes(d, random.Random(5), 400)
    _rows, kept = await d.read(everything)
    await d.dispose()
    await asyncio.to_thread(downgrade, url, f"{REVISION}-1")  # the change rows stay, their counts go
    await asyncio.to_thread(upgrade, url)
    d = Database(url)
    try:
        rows, again = await d.read(everything)
    finally:
        await d.dispose()
    assert len(rows) > 300 and as_set(again) == as_set(kept)


@backend.sqlite_only
async def test_a_page_of_changes_walks_an_index(db: Database) -> None:
    """ORDER BY at DESC, id DESC LIMIT n: no sort of the window's rows, with or without filters."""
    t = snapshot_changes

    def plan(conn: Connection, *where: Any) -> str:
        stmt = select(t).where(t.c.cloud == "c1", t.c.at >= T0, *where).order_by(t.c.at.desc(), t.c.id.desc())
        sql = str(stmt.limit(50).compile(conn, compile_kwargs={"literal_binds": True}))
        return " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

    for where in ((), (t.c.kind == "servers",), (t.c.project_id == "p1",), (t.c.resource_id == "r1",)):
        text = await db.read(plan, *where)
        assert "TEMP B-TREE" not in text, text
