"""OpenStack misbehaving during a sync, through the simulator's fault knobs: a timeout (hang), a dropped
connection, a malformed or truncated JSON body and a 503 burst beyond the retry budget, each from page 2
of the servers listing onward. For each: the other kinds still sync, nothing is tombstoned, the failed
run is recorded with its error, the read tools say the servers snapshot is stale/failed, and the next
healthy sync converges on the simulator's state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from app.cloud.connection import STATUS_CODE_RETRIES
from app.context import open_app_context
from tests.faults.helpers import FromNth, live_ids, runs, sim_ids, table_counts
from tests.tools.conftest import call, make_settings, mcp_client

SERVERS = 40
PAGE = 10  # 4 pages of servers

FAULTS: dict[str, dict[str, Any]] = {
    "timeout": {"action": "hang", "delay": 3.0},
    "dropped_connection": {"action": "drop"},
    "malformed_json": {"action": "malformed"},  # page 3 variant already in tests/sync: slow only
    "truncated_json": {"action": "truncate"},
    # every attempt of page 2 answers 503: keystoneauth's 1 + STATUS_CODE_RETRIES tries, then it gives up
    "503_beyond_retry_budget": {"action": "status", "status": 503, "count": STATUS_CODE_RETRIES + 1},
}
ERROR_WORDS = {
    "timeout": "timed out", "dropped_connection": "could not be reached", "malformed_json": "Expecting value",
    "truncated_json": "Unterminated", "503_beyond_retry_budget": "503",
}


async def _assert_reads_say_failed(client: Any, sim: Any, kind: str, error_word: str) -> None:
    status = await call(client, "get_sync_status", kind=kind, runs=5)
    snap = status["snapshot"]
    assert snap["stale"] is True
    (k,) = snap["kinds"]
    assert k["kind"] == kind and k["status"] == "failed" and k["stale"] is True
    assert error_word.lower() in (k["last_error"] or "").lower(), k
    assert k["as_of"] is not None, "the previous good snapshot is still served, with its age"
    assert status["recent_runs"][0]["status"] == "failed" and status["recent_runs"][0]["error"]
    if kind == "servers":
        name = next(iter(sim.state.values("servers")))["name"]
        found = await call(client, "search_instances", search_term=name, search_in="name")
        assert found["total"] >= 1
        assert found["snapshot"]["stale"] is True
        assert {k["kind"]: k["status"] for k in found["snapshot"]["kinds"]}["servers"] == "failed"
        cluster = await call(client, "get_cluster_status")
        assert cluster["snapshot"]["stale"] is True
        assert {k["kind"]: k["status"] for k in cluster["snapshot"]["kinds"]}.get("servers") == "failed"


async def _assert_reads_say_ok(client: Any, kind: str) -> None:
    # The client's server is another context: a run finished by the test's own context shows up there
    # once its freshness cache (0.5 s, app/sync/freshness.py) was last read before that run, so the state
    # is waited for (bounded), not assumed on the first read.
    deadline = time.monotonic() + 30
    while True:
        status = await call(client, "get_sync_status", kind=kind, runs=1)
        (k,) = status["snapshot"]["kinds"]
        if k["status"] == "ok" or time.monotonic() > deadline:
            break
    assert k["status"] == "ok" and not k["stale"] and status["snapshot"]["stale"] is False


@pytest.mark.parametrize("fault", [pytest.param(f, marks=pytest.mark.slow) if f == "malformed_json" else f
                                   for f in FAULTS])
async def test_fault_mid_listing_fails_cleanly_and_heals(make_sim, tmp_path: Path, fault: str) -> None:
    sim = make_sim(servers=SERVERS, seed=11)
    sim.advance(3600)  # settle BUILD -> ACTIVE so the rows stand still between runs
    db = tmp_path / "f.db"
    # A short API timeout only where the fault is a hang (3 s): healthy calls (Keystone, page 1) on a loaded
    # 2-core machine took longer than the 0.3 s this test used, failing its healthy first sync.
    settings = make_settings(db, page_size=PAGE, api_timeout=1.5 if fault == "timeout" else 10.0)
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx, mcp_client(settings, sim) as client:
        first = await ctx.sync.sync_all()
        assert all(r.ok for r in first.values()), {k: r.error for k, r in first.items() if not r.ok}
        before = table_counts(db)
        assert live_ids(db) == sim_ids(sim)

        # the cloud changes (3 servers go away: a complete listing would tombstone them) and then fails
        # from page 2 of the servers listing on
        gone = list(sim.state.coll("servers"))[-3:]
        for sid in gone:
            sim.state.remove("servers", sid)
        rule = FromNth(r"/servers/detail$", nth=2, **FAULTS[fault])
        sim.faults.append(rule)
        t0 = time.monotonic()
        results = await ctx.sync.sync_all()
        elapsed = time.monotonic() - t0
        assert elapsed < 30, f"a failing listing must give up in bounded time ({elapsed:.1f}s)"
        assert rule.fired >= 1

        failed = results["servers"]
        assert failed.status == "failed" and failed.tombstoned == 0
        assert failed.seen == PAGE and failed.details["pages"] == 1
        assert ERROR_WORDS[fault].lower() in (failed.error or "").lower(), failed.error
        others = {k: r.error for k, r in results.items() if k != "servers" and not r.ok}
        assert not others, f"other kinds must still sync: {others}"
        # no false tombstones: every table is exactly as before, the vanished servers still live
        assert table_counts(db) == before
        assert set(gone) <= live_ids(db)
        (row,) = runs(db, f"id={failed.run_id}")
        assert row["status"] == "failed" and row["error"] and row["finished_at"] and row["tombstoned"] == 0
        assert not runs(db, "status='running'")

        await _assert_reads_say_failed(client, sim, "servers", ERROR_WORDS[fault])

        # the next healthy poll converges on the simulator's state
        sim.clear_faults()
        healed = await ctx.sync.sync_all()
        assert all(r.ok for r in healed.values()), {k: r.error for k, r in healed.items() if not r.ok}
        assert healed["servers"].tombstoned == 3
        assert live_ids(db) == sim_ids(sim)
        await _assert_reads_say_ok(client, "servers")


async def test_hung_endpoint_for_one_kind_while_the_others_sync(make_sim, tmp_path: Path) -> None:
    sim = make_sim(servers=30, seed=12)
    db = tmp_path / "h.db"
    settings = make_settings(db, page_size=PAGE, api_timeout=0.3)
    sim.inject(r"/v2\.0/networks$", action="hang", delay=2.0)
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        results = await ctx.sync.sync_all()
        assert results["networks"].status == "failed"
        assert "timed out" in (results["networks"].error or "")
        others = {k: r.error for k, r in results.items() if k != "networks" and not r.ok}
        assert not others
        # the hung kind held nothing up: every other kind of the same run completed and matches the cloud
        # (an ordering of finish times would say the same only on an idle machine)
        assert live_ids(db) == sim_ids(sim)
        async with mcp_client(settings, sim) as client:
            status = await call(client, "get_sync_status", kind="networks", runs=1)
            (k,) = status["snapshot"]["kinds"]
            # never synced: no pretend as_of, and the failure is said
            assert k["status"] == "never_synced" and k["as_of"] is None and k["stale"] is True
            assert "timed out" in (k["last_error"] or ""), k
            assert status["snapshot"]["stale"] is True and status["snapshot"]["missing"] == ["networks"]

        sim.clear_faults()
        healed = await ctx.sync.full_sync("networks")
        assert healed.ok
        assert live_ids(db, "networks") == sim_ids(sim, "networks")
