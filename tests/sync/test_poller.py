"""The poller: scheduler jobs under the lease, the job wrapper, and two real processes on one file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.db.engine import Database, utcnow
from app.sync.lease import Lease
from app.sync.scheduler import Poller
from tests.sync.helpers import count_rows, query

ROOT = Path(__file__).resolve().parents[2]


async def _until(pred, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred() if asyncio.iscoroutinefunction(pred) else pred():
            return True
        await asyncio.sleep(step)
    return False


async def test_lease_is_exclusive_and_expires(db_url) -> None:
    db = Database(db_url)
    a, b = Lease(db, "poller:x", ttl=30), Lease(db, "poller:x", ttl=30)
    t0 = utcnow()  # the lease's clock is passed in: expiry is decided by these times, not by machine speed
    assert await a.acquire(t0) and not await b.acquire(t0 + timedelta(seconds=29))
    assert await a.renew(t0 + timedelta(seconds=10)) and (await a.holder()).owner == a.owner
    later = t0 + timedelta(seconds=41)  # the renewal's 30 s have run out
    assert await b.acquire(later) and not await a.renew(later) and not await a.acquire(later)
    await b.release()
    assert await a.holder() is None and await a.acquire()
    await db.dispose()


async def test_poller_polls_only_while_leading(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim, lease_ttl=1.0, lease_renew_interval=0.2, poll_intervals={"flavors": 0.3})
    first = Poller(st.settings, st.db, st.service, kinds=["flavors"])
    await first.start()
    assert await _until(lambda: count_rows(db_url, "sync_runs", "kind='flavors' AND status='succeeded'") >= 2, 10)
    assert first.is_leader
    other_db = Database(db_url)
    second = Poller(st.settings, other_db, st.service, kinds=["flavors"])
    await second.start()
    await asyncio.sleep(0.6)
    assert not second.is_leader
    await first.stop()  # releases the lease
    assert await _until(lambda: second.is_leader, 5)
    await second.stop()
    await other_db.dispose()


async def test_job_wrapper_keeps_poller_alive(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim, lease_ttl=1.0, lease_renew_interval=0.2, poll_intervals={"flavors": 0.2})
    calls = {"n": 0}
    real_poll = st.service.poll

    async def flaky(kind: str):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return await real_poll(kind)

    st.service.poll = flaky  # type: ignore[method-assign]
    poller = Poller(st.settings, st.db, st.service, kinds=["flavors"])
    await poller.start()
    assert await _until(lambda: "sync:flavors" in poller.job_errors, 5)
    assert await _until(lambda: count_rows(db_url, "sync_runs", "status='succeeded'") >= 1, 10)
    await poller.stop()


def _spawn(env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.sync.poller_proc"], cwd=ROOT, env=env,
                            stdout=out.open("wb"), stderr=subprocess.DEVNULL)


def _lines(path: Path, word: str) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.startswith(word)]


async def test_two_processes_one_polls_and_the_other_takes_over(make_sim, db_url, tmp_path: Path) -> None:
    sim = make_sim(servers=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(sim.os_env(), OPS_DATABASE_URL=db_url, TEST_LEASE_TTL="2", TEST_LEASE_RENEW="0.4",
               PYTHONPATH=str(ROOT))
    outs = [tmp_path / "a.out", tmp_path / "b.out"]
    procs = [_spawn(env, outs[0]), _spawn(env, outs[1])]
    try:
        # Deadlines are generous (a loaded 2-core machine starts Python slowly); nothing here is timed.
        assert await _until(lambda: all(_lines(o, "STARTED") for o in outs), 120, 0.1)
        assert await _until(lambda: any(_lines(o, "LEADER") for o in outs), 60, 0.1)
        await asyncio.sleep(1.5)
        leaders = [i for i, o in enumerate(outs) if _lines(o, "LEADER")]
        assert len(leaders) == 1
        leader = leaders[0]
        owner = _lines(outs[leader], "LEADER")[0].split()[1]
        assert query(db_url, "SELECT owner FROM poller_lease")[0][0] == owner
        assert f":{procs[leader].pid}:" in owner
        runs_before = count_rows(db_url, "sync_runs", "status='succeeded'")
        assert runs_before >= 1

        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait()
        epoch = query(db_url, "SELECT epoch FROM poller_lease")[0][0]
        follower = 1 - leader
        assert await _until(lambda: bool(_lines(outs[follower], "LEADER")), 60, 0.05)
        new_owner, new_epoch = query(db_url, "SELECT owner, epoch FROM poller_lease")[0]
        assert f":{procs[follower].pid}:" in new_owner and new_epoch == epoch + 1
        assert await _until(lambda: count_rows(db_url, "sync_runs", "status='succeeded'") > runs_before, 60, 0.1)
        assert count_rows(db_url, "sync_runs", "status='running' AND finished_at IS NOT NULL") == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


async def test_stop_lets_cancelled_jobs_unwind_before_recording_runs(make_sim, make_stack) -> None:
    """A job cancelled by stop() (e.g. a lease tick inside its transaction) finishes unwinding before
    stop() records the cancelled runs (cancel_all writes): the order is recorded, not timed."""
    sim = make_sim(servers=3)
    st = await make_stack(sim, lease_ttl=5.0, lease_renew_interval=60)
    poller = Poller(st.settings, st.db, st.service, kinds=["flavors"])
    order: list[str] = []
    started = asyncio.Event()

    async def slow_to_unwind() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            for _ in range(20):  # a rollback's few awaits
                await asyncio.sleep(0)
            order.append("job unwound")
            raise

    real_cancel_all = st.service.cancel_all

    async def cancel_all() -> None:
        order.append("cancel_all")
        await real_cancel_all()

    st.service.cancel_all = cancel_all  # type: ignore[method-assign]
    await poller.start()
    assert poller._scheduler is not None
    poller._scheduler.add_job(poller._guarded, args=["slow", slow_to_unwind], id="slow",
                              next_run_time=datetime.now(timezone.utc))
    await asyncio.wait_for(started.wait(), 30)
    await poller.stop()
    assert order == ["job unwound", "cancel_all"]
