"""SIGKILL the server while a write-through is in flight (OpenStack has the request, no answer yet),
then start another on the same database: the file is intact, the audit log shows the call as
in_progress (outcome unknown), no snapshot row claims a state OpenStack never reported, and the new
process takes the lease and serves reads and writes."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp import Client

from app.simulator.core import Simulator
from tests.crash.procs import serve, server_env
from tests.faults.helpers import runs

LEASE_TTL = 2.0


def _rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        c.row_factory = sqlite3.Row
        return c.execute(sql, args).fetchall()


def _until(pred: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
        except sqlite3.OperationalError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s")


async def _call(base: str, tool: str, **args: Any) -> Any:
    async with Client(base + "/mcp", read_timeout_seconds=30) as client:
        return await client.call_tool(tool, args)


def test_sigkill_during_write_through(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(servers=30, seed=5)
    db = tmp_path / "write.db"
    env = server_env(sim, db, ALLOW_MODIFY_OPERATIONS="true", OPS_LEASE_TTL=str(LEASE_TTL),
                     OPS_LEASE_RENEW_INTERVAL="0.3", OPS_COLD_START_WAIT="0")
    log = tmp_path / "server.log"
    active = [s for s in sim.state.values("servers") if s["status"] == "ACTIVE"]
    victim, other = active[0], active[1]

    with serve(env, "--allow-modify-operations", log=log) as (first, base):
        _until(lambda: runs(db, "kind='servers' AND status='succeeded'"), 60)
        # OpenStack takes the pause request and sits on it: the write is in flight when we kill
        hang = sim.inject(rf"/servers/{victim['id']}/action", action="hang", delay=6.0, method="POST")

        async def kill_mid_call() -> None:
            task = asyncio.create_task(_call(base, "manage_instance", instance_name=victim["id"], action="pause"))
            while hang.fired == 0:
                assert not task.done(), task.result()
                await asyncio.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(kill_mid_call())
    sim.clear_faults()

    with sqlite3.connect(db, timeout=10) as c:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    (op,) = _rows(db, "SELECT * FROM operations WHERE tool='manage_instance'")
    assert op["action"] == "pause" and op["outcome"] == "in_progress" and victim["id"] in op["targets"]
    (row,) = _rows(db, "SELECT status, task_state FROM servers WHERE id=?", victim["id"])
    assert row["status"] == "ACTIVE", "the snapshot never shows a state OpenStack did not report"

    # a new process takes over: reads work, and the next write goes through and is audited
    with serve(env, "--allow-modify-operations", log=log) as (second, base):
        async def after() -> tuple[Any, Any]:
            status = await _call(base, "get_sync_status", kind="servers", runs=1)
            pause = await _call(base, "manage_instance", instance_name=other["id"], action="pause")
            return status, pause

        _until(lambda: _rows(db, "SELECT 1 FROM poller_lease WHERE expires_at > datetime('now')"), LEASE_TTL + 10)
        status, followup = asyncio.run(after())
        assert not status.is_error
        assert not followup.is_error, followup.content
        assert followup.structured_content["status"] == "accepted"
        assert second.poll() is None
    outcomes = [r["outcome"] for r in _rows(db, "SELECT outcome FROM operations ORDER BY id")]
    assert outcomes == ["in_progress", "succeeded"]
