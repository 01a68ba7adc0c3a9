"""SIGKILL the server in the middle of a large full sync of servers, then start another one on the same
database: the file is intact, the interrupted run tombstoned nothing and is marked failed by the next
lease holder, which completes a sync equal to the simulator's state."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.simulator.core import Simulator
from tests.crash.procs import serve, server_env
from tests.faults.helpers import live_ids, runs, sim_ids

LEASE_TTL = 2.0


def _until(pred: Callable[[], object], timeout: float, step: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
        except sqlite3.OperationalError:  # no such table yet (migrating) / busy
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {pred}")


def _running_servers_run_with_pages(db: Path, after: int) -> int | None:
    """The id of a running full servers run that has written at least one page (mid-listing)."""
    r = runs(db, f"kind='servers' AND status='running' AND mode='full' AND id > {after}")
    if not r:
        return None
    run_id = r[-1]["id"]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        pages = c.execute("SELECT count(*) FROM servers WHERE last_sync_id=?", (run_id,)).fetchone()[0]
    return run_id if pages else None


@pytest.mark.parametrize("servers", [1500, pytest.param(5000, marks=pytest.mark.slow)])
def test_sigkill_mid_full_sync_then_recover(make_sim: Callable[..., Simulator], tmp_path: Path, servers: int) -> None:
    sim = make_sim(servers=servers, seed=21)
    sim.advance(3600)
    db = tmp_path / "crash.db"
    env = server_env(sim, db, OPS_PAGE_SIZE=str(servers // 20), OPS_LEASE_TTL=str(LEASE_TTL), OPS_LEASE_RENEW_INTERVAL="0.3",
                     OPS_POLL_INTERVAL="600", OPS_POLL_INTERVALS='{"servers": 0.5}',
                     OPS_FULL_RECONCILE_INTERVAL="0.1", OPS_COLD_START_WAIT="0")
    log = tmp_path / "server.log"

    with serve(env, log=log) as (first, _base):
        # a first complete listing, so that the interrupted one has something it could wrongly tombstone
        done = _until(lambda: runs(db, "kind='servers' AND status='succeeded'"), 60, 0.1)
        assert live_ids(db) == sim_ids(sim)
        # 100 servers vanish; every request now takes 60 ms: the next full listing (20 pages) spans > 1.2 s
        vanished = set(list(sim.state.coll("servers"))[-100:])
        for sid in vanished:
            sim.state.remove("servers", sid)
        sim.latency = 0.06
        killed_run = _until(lambda: _running_servers_run_with_pages(db, done[-1]["id"]), 30, 0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    sim.latency = 0.0

    with sqlite3.connect(db, timeout=10) as c:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = c.execute("SELECT count(*) FROM server_addresses WHERE server_id NOT IN (SELECT id FROM servers)")
        assert orphans.fetchone()[0] == 0
    (row,) = runs(db, f"id={killed_run}")
    assert row["status"] == "running" and row["tombstoned"] == 0
    assert vanished <= live_ids(db), "the interrupted run tombstoned nothing"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        assert c.execute("SELECT count(*) FROM servers WHERE deleted_at IS NOT NULL").fetchone()[0] == 0

    # the next process takes the lease once it expires, marks the dead run failed, and converges
    with serve(env, log=log) as (second, _base):
        _until(lambda: runs(db, f"id={killed_run} AND status='failed'"), LEASE_TTL + 15, 0.1)
        (row,) = runs(db, f"id={killed_run}")
        assert "abandoned" in row["error"] and row["finished_at"]
        _until(lambda: runs(db, f"kind='servers' AND status='succeeded' AND mode='full' AND id > {killed_run}")
               and live_ids(db) == sim_ids(sim), 60, 0.1)
        assert live_ids(db) == sim_ids(sim)
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            tomb = {r[0] for r in c.execute("SELECT id FROM servers WHERE deleted_at IS NOT NULL")}
        assert tomb == vanished
        stale_running = runs(db, f"status='running' AND id <= {killed_run}")
        assert not stale_running
        assert second.poll() is None
