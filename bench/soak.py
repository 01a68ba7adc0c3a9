"""``python -m bench soak``: the consistency soak of issue 9.

One OpenStack simulator (in this process, on a uvicorn thread: it is the ground truth we compare
against) with churn; two ``python -m app serve --type streamable-http`` processes on the same SQLite
database, each with a poller (one holds the lease); 30 MCP clients (:mod:`bench.soak_clients`, one
subprocess) reading in a loop and writing through ``manage_*`` tools; faults switched on and off in
phases; SIGKILL and SIGSTOP/SIGCONT of the lease holder. Then faults, churn and writes stop, every
server runs again, and the snapshot must converge on the simulator's state.

How each figure is measured:

* **false tombstones**: SQLite triggers (``soak_*`` objects, created by this harness after the server's
  migrations) log every transition of a compared row's ``deleted_at`` from NULL to a time (and back:
  revivals) with the row's ``last_sync_id``, inside the writer's own transaction, so a row tombstoned
  and revived between two looks is still seen. Every removal from the simulator's state is logged with
  its time. A tombstone of an id the simulator still had at that moment (or removed only later) is
  false.
* **missing / phantom** (after convergence): live snapshot ids vs the simulator's ids, per kind.
* **lease handovers**: the ``poller_lease`` row, read every 0.25 s: distinct owners, epochs (when the
  column exists), changes of owner; a loss is *healthy* when the losing process was neither killed nor
  stopped around it.
* **errors by type**: every failed client call, classified against this run's own timeline (which
  server was down when) into expected classes (named) and unexpected ones (listed with samples).

Everything binds to 127.0.0.1; every loop has a count or time bound; all processes are stopped on the
way out (also on Ctrl-C or an exception)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Procs, clean_env, free_port

CLOUD = "soak"

# snapshot table -> simulator kind; the kinds whose ids are compared with the simulator's truth
COMPARED: dict[str, str] = {
    "servers": "servers", "volumes": "volumes", "volume_snapshots": "snapshots", "networks": "networks",
    "subnets": "subnets", "ports": "ports", "floating_ips": "floatingips", "routers": "routers",
    "stacks": "stacks", "images": "images", "keypairs": "keypairs",
}

# GET paths of the listings the poller makes (and the targeted GETs after writes)
READ_PATHS = (r"/servers/detail|/servers/[0-9a-f-]{36}$|/volumes/detail|/volumes/[0-9a-f-]{36}$|/snapshots/detail|"
              r"/v2\.0/(networks|ports|floatingips|subnets|routers|security-groups)|/stacks|/images|"
              r"/os-hypervisors/detail|/os-keypairs")
ONE_OBJECT = r"/servers/[0-9a-f-]{36}$|/volumes/[0-9a-f-]{36}$|/v2\.0/(floatingips|ports)/[0-9a-f-]{36}$|/stacks/[^/]+/[0-9a-f-]{36}$"
KIND_PATHS = {"volumes": r"/volumes/", "ports": r"/v2\.0/ports", "floating_ips": r"/v2\.0/floatingips",
              "stacks": r"/stacks", "servers": r"/servers/", "networks": r"/v2\.0/networks"}


def log(msg: str) -> None:
    print(f"soak {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# The simulator: in this process, on its own event loop thread; everything that touches its state
# runs on that loop (serialised with the request handlers).


class SimHost:
    def __init__(self, servers: int, seed: int, transition_seconds: float) -> None:
        from app.simulator.core import Simulator

        self.sim = Simulator(servers=servers, seed=seed, transition_seconds=transition_seconds)
        self.removed: dict[tuple[str, str], float] = {}  # (sim kind, id) -> time.time() of removal
        orig = self.sim.state.remove

        def remove(kind: str, rid: str, keep_tombstone: bool = False) -> Any:
            rec = orig(kind, rid, keep_tombstone)
            if rec is not None:
                self.removed.setdefault((kind, rid), time.time())
            return rec

        self.sim.state.remove = remove  # type: ignore[method-assign]
        self.admin_uid = next((u["id"] for u in self.sim.state.values("users") if u["name"] == "admin"), "")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import socket

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.sim.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.sim.build_app(), log_level="warning", access_log=False,
                                                     lifespan="on", timeout_keep_alive=30))
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            ready.set()
            try:
                loop.run_until_complete(self._server.serve(sockets=[sock]))
            finally:
                loop.close()
                sock.close()

        self._thread = threading.Thread(target=run, name="soak-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("simulator did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def call(self, fn: Callable[[], Any], timeout: float = 30) -> Any:
        """Run ``fn()`` on the simulator's loop thread."""
        assert self.loop is not None

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def truth(self) -> dict[str, set[str]]:
        """Ids per snapshot table that the simulator's listings would return now (due transitions applied)."""
        sim = self.sim

        def collect() -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            with sim.state.lock:
                for table, kind in COMPARED.items():
                    coll = sim.state.coll(kind)
                    for rec in list(coll.values()):
                        sim.settle(rec)
                    if kind == "keypairs":  # listed per user: the poller's user (admin) sees its own
                        out[table] = {str(r.get("name")) for r in coll.values() if r.get("user_id") == self.admin_uid}
                    elif kind == "stacks":
                        out[table] = {rid for rid, r in coll.items() if r.get("stack_status") != "DELETE_COMPLETE"}
                    else:
                        out[table] = set(coll)
            return out

        return self.call(collect)  # type: ignore[no-any-return]

    def sim_id(self, table: str, row_id: str) -> str:
        """The simulator's key of a snapshot row (keypairs: ``user_id:name``)."""
        return f"{self.admin_uid}:{row_id}" if table == "keypairs" else row_id

    def alive(self, kind: str, rid: str) -> bool:
        return self.call(lambda: rid in self.sim.state.coll(kind))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# The two servers


@dataclass
class Slot:
    n: int
    port: int
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    # (start, end) windows in time.time() when this slot's process was killed/restarting or stopped
    down: list[list[float]] = field(default_factory=list)
    stopped: list[list[float]] = field(default_factory=list)
    killed_pids: dict[int, float] = field(default_factory=dict)
    is_stopped: bool = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Servers:
    def __init__(self, procs: Procs, env: dict[str, str]) -> None:
        self.procs = procs
        self.env = env
        self.slots = [Slot(0, free_port()), Slot(1, free_port())]

    def start(self, slot: Slot, timeout: float = 120) -> None:
        slot.proc = self.procs.popen(
            [sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--host", "127.0.0.1",
             "--port", str(slot.port), "--allow-modify-operations"], f"server{slot.n}", env=self.env)
        slot.pids.append(slot.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if slot.proc.poll() is not None:
                raise RuntimeError(f"server{slot.n} exited {slot.proc.returncode}; see {slot.proc._bench_log.name}")  # type: ignore[attr-defined]
            try:
                if httpx.get(slot.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server{slot.n} did not answer /healthz within {timeout:.0f}s")

    def by_pid(self, pid: int) -> Slot | None:
        return next((s for s in self.slots if pid in s.pids), None)

    def kill(self, slot: Slot) -> None:
        assert slot.proc is not None
        t = time.time()
        slot.down.append([t, float("inf")])
        slot.killed_pids[slot.proc.pid] = t
        os.killpg(slot.proc.pid, signal.SIGKILL)
        slot.proc.wait(timeout=10)
        self.procs.stop(slot.proc)

    def restart(self, slot: Slot) -> None:
        self.start(slot)
        slot.down[-1][1] = time.time()

    def sigstop(self, slot: Slot) -> None:
        assert slot.proc is not None
        slot.stopped.append([time.time(), float("inf")])
        slot.is_stopped = True
        os.killpg(slot.proc.pid, signal.SIGSTOP)

    def sigcont(self, slot: Slot) -> None:
        if slot.proc is not None and slot.is_stopped:
            os.killpg(slot.proc.pid, signal.SIGCONT)
            slot.stopped[-1][1] = time.time()
            slot.is_stopped = False

    def all_up(self) -> None:
        for s in self.slots:
            self.sigcont(s)
            if s.proc is None or s.proc.poll() is not None:
                if not s.down or s.down[-1][1] != float("inf"):
                    s.down.append([time.time(), float("inf")])
                self.restart(s)

    def shutdown(self) -> None:
        for s in self.slots:
            self.sigcont(s)
            if s.proc is not None:
                self.procs.stop(s.proc)


# --------------------------------------------------------------------------------------------------
# Observing the database (read-only, except the trigger set-up)


def ro(db: Path) -> sqlite3.Connection:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    c.row_factory = sqlite3.Row
    return c


def install_triggers(db: Path, tables: list[str]) -> None:
    now = "(julianday('now') - 2440587.5) * 86400.0"
    with sqlite3.connect(db, timeout=60) as c:
        c.execute("CREATE TABLE IF NOT EXISTS soak_row_events (seq INTEGER PRIMARY KEY, tbl TEXT, id TEXT, "
                  "event TEXT, at REAL, last_sync_id INTEGER)")
        for t in tables:
            c.execute(f"""CREATE TRIGGER IF NOT EXISTS soak_tomb_{t} AFTER UPDATE OF deleted_at ON "{t}"
                          WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL AND NEW.cloud = '{CLOUD}'
                          BEGIN INSERT INTO soak_row_events (tbl, id, event, at, last_sync_id)
                          VALUES ('{t}', NEW.id, 'tombstone', {now}, NEW.last_sync_id); END""")
            c.execute(f"""CREATE TRIGGER IF NOT EXISTS soak_revive_{t} AFTER UPDATE OF deleted_at ON "{t}"
                          WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL AND NEW.cloud = '{CLOUD}'
                          BEGIN INSERT INTO soak_row_events (tbl, id, event, at, last_sync_id)
                          VALUES ('{t}', NEW.id, 'revive', {now}, NEW.last_sync_id); END""")


def live_ids(db: Path, tables: list[str]) -> dict[str, set[str]]:
    with ro(db) as c:
        return {t: {r[0] for r in c.execute(f'SELECT id FROM "{t}" WHERE cloud=? AND deleted_at IS NULL', (CLOUD,))}
                for t in tables}


def tables_in(db: Path) -> set[str]:
    try:
        with ro(db) as c:
            return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError:
        return set()


class Observer(threading.Thread):
    """Reads the lease row every 0.25 s and the trigger log every second; judges every tombstone."""

    def __init__(self, db: Path, host: SimHost, servers: Servers, lease_ttl: float, renew: float) -> None:
        super().__init__(name="soak-observer", daemon=True)
        self.db = db
        self.host = host
        self.servers = servers
        self.lease_ttl = lease_ttl
        self.renew = renew
        self.stop_event = threading.Event()
        self.lease_log: list[dict[str, Any]] = []  # one entry per observed change of (owner, epoch)
        self.tombstones = 0
        self.revivals = 0
        self.false_tombstones: list[dict[str, Any]] = []
        self.unjudged: list[dict[str, Any]] = []
        self._seq = 0
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        last_events = 0.0
        while not self.stop_event.wait(0.25):
            try:
                self._lease()
                if time.monotonic() - last_events >= 1.0:
                    last_events = time.monotonic()
                    self._events()
            except sqlite3.Error as e:  # busy, or the table is not there yet
                self.errors[f"{type(e).__name__}: {e}"] += 1

    def final(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self._lease()
        self._events()

    def _lease(self) -> None:
        with ro(self.db) as c:
            rows = [dict(r) for r in c.execute("SELECT * FROM poller_lease WHERE name=?", (f"poller:{CLOUD}",))]
        if not rows:
            return
        row = rows[0]
        key = (row["owner"], row.get("epoch"))
        if not self.lease_log or (self.lease_log[-1]["owner"], self.lease_log[-1].get("epoch")) != key:
            self.lease_log.append({"t": time.time(), "owner": row["owner"], "epoch": row.get("epoch"),
                                   "acquired_at": row["acquired_at"]})

    def _events(self) -> None:
        with ro(self.db) as c:
            try:
                rows = [dict(r) for r in c.execute("SELECT * FROM soak_row_events WHERE seq > ? ORDER BY seq",
                                                   (self._seq,))]
                runs = {r["id"]: dict(r) for r in c.execute(
                    "SELECT id, kind, mode, status, started_at, finished_at FROM sync_runs WHERE id IN (%s)"
                    % ",".join(str(int(x["last_sync_id"] or 0)) for x in rows)) } if rows else {}
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return
                raise
        for ev in rows:
            self._seq = ev["seq"]
            if ev["event"] == "revive":
                self.revivals += 1
                continue
            self.tombstones += 1
            kind = COMPARED[ev["tbl"]]
            sid = self.host.sim_id(ev["tbl"], ev["id"])
            removed_at = self.host.removed.get((kind, sid))
            if removed_at is None and self.host.alive(kind, sid):
                verdict = "object still exists in the simulator"
            elif removed_at is not None and ev["at"] < removed_at - 0.05:
                verdict = f"tombstoned {removed_at - ev['at']:.2f}s before the simulator removed it"
            elif removed_at is None:
                self.unjudged.append(ev)  # never in the simulator's state: nothing to judge against
                continue
            else:
                continue
            run = runs.get(ev["last_sync_id"]) or {}
            self.false_tombstones.append({**ev, "verdict": verdict, "run": run})


# --------------------------------------------------------------------------------------------------
# The chaos schedule


FAULT_PHASES = ["calm", "503_bursts", "hangs", "dropped_connections", "token_expiry", "malformed_bodies",
                "kind_down", "mixed"]


class Chaos:
    def __init__(self, host: SimHost, servers: Servers, db: Path, a: argparse.Namespace, rng: random.Random) -> None:
        self.host = host
        self.servers = servers
        self.db = db
        self.a = a
        self.rng = rng
        self.rules: list[Any] = []
        self.timeline: list[dict[str, Any]] = []
        self.kind_down_cycle = 0
        self.restarting: threading.Thread | None = None
        self.last_listing = 0

    def busy(self) -> bool:
        return self.restarting is not None and self.restarting.is_alive()

    def wait_restart(self) -> None:
        if self.restarting is not None:
            self.restarting.join(timeout=180)

    def note(self, what: str, **kw: Any) -> None:
        self.timeline.append({"t": time.time(), "what": what, **kw})
        log(what + (" " + json.dumps(kw) if kw else ""))

    # --- faults ---------------------------------------------------------------------------------------
    def _inject(self, pattern: str, **kw: Any) -> None:
        self.rules.append(self.host.call(lambda: self.host.sim.inject(pattern, method="GET", **kw)))

    def clear(self) -> None:
        rules, self.rules = self.rules, []

        def drop() -> None:
            for r in rules:
                if r in self.host.sim.faults:
                    self.host.sim.faults.remove(r)

        self.host.call(drop)

    def enter(self, phase: str) -> None:
        self.clear()
        a = self.a
        if phase == "hangs":
            self._inject(READ_PATHS, action="hang", delay=a.api_timeout + 3, rate=0.15)
            # slow but successful targeted refreshes (below the timeout): they overlap full listings
            self._inject(ONE_OBJECT, action="hang", delay=a.api_timeout * 0.6, rate=0.5)
        elif phase == "dropped_connections":
            self._inject(READ_PATHS, action="drop", rate=0.15)
        elif phase == "malformed_bodies":
            self._inject(READ_PATHS, action="malformed", rate=0.08)
            self._inject(READ_PATHS, action="truncate", rate=0.08)
        elif phase == "kind_down":
            kinds = list(KIND_PATHS)
            kind = kinds[self.kind_down_cycle % len(kinds)]
            self.kind_down_cycle += 1
            self._inject(KIND_PATHS[kind], status=500, rate=1.0)
            phase = f"kind_down:{kind}"
        elif phase == "mixed":
            self._inject(ONE_OBJECT, action="hang", delay=a.api_timeout * 0.6, rate=0.3)
            self._inject(READ_PATHS, action="hang", delay=a.api_timeout + 3, rate=0.03)
            self._inject(READ_PATHS, action="drop", rate=0.03)
            self._inject(READ_PATHS, action="malformed", rate=0.03)
            self._inject(READ_PATHS, status=503, rate=0.05)
        self.note(f"phase {phase}")

    def tick(self, phase: str) -> None:
        """Periodic parts of a phase (every ~5 s)."""
        if phase == "503_bursts":
            pat = self.rng.choice([READ_PATHS, *KIND_PATHS.values()])
            self._inject(pat, status=503, count=8)
        elif phase in ("token_expiry", "mixed"):
            self.host.call(self.host.sim.expire_tokens)

    # --- processes ------------------------------------------------------------------------------------
    def holder(self) -> Slot | None:
        try:
            with ro(self.db) as c:
                row = c.execute("SELECT owner, expires_at FROM poller_lease WHERE name=?", (f"poller:{CLOUD}",)).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        try:
            pid = int(str(row["owner"]).split(":")[1])
        except (IndexError, ValueError):
            return None
        slot = self.servers.by_pid(pid)
        if slot is None or slot.proc is None or slot.proc.pid != pid or slot.proc.poll() is not None:
            return None
        return slot

    def process_event(self, n: int) -> tuple[str, Slot, float] | None:
        """SIGKILL (even n) or SIGSTOP (odd n) the lease holder; returns what to undo and when."""
        slot = self.holder()
        if slot is None or slot.is_stopped:
            self.note("process event skipped: no live lease holder")
            return None
        if n % 2 == 0:
            self.note("SIGKILL lease holder", server=slot.n, pid=slot.proc.pid if slot.proc else None)
            self.servers.kill(slot)
            return ("restart", slot, time.monotonic() + self.a.restart_after)
        mid = self._mid_servers_listing(timeout=20.0)  # stopped mid-listing: its run goes on after SIGCONT
        self.note("SIGSTOP lease holder", server=slot.n, pid=slot.proc.pid if slot.proc else None,
                  mid_servers_listing=mid)
        self.servers.sigstop(slot)
        return ("cont", slot, time.monotonic() + self.a.lease_ttl + self.a.stop_extra)

    def _mid_servers_listing(self, timeout: float, after: int = 0) -> bool:
        """Wait (bounded) until a full servers run (id > ``after``) has written a page and is still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with ro(self.db) as c:
                    row = c.execute("SELECT id FROM sync_runs WHERE kind='servers' AND mode='full' AND status='running' "
                                    "AND id > ? ORDER BY id DESC LIMIT 1", (after,)).fetchone()
                    if row:
                        self.last_listing = max(self.last_listing, int(row[0]))
                    if row and c.execute("SELECT 1 FROM servers WHERE last_sync_id=? LIMIT 1", (row[0],)).fetchone():
                        return True
            except sqlite3.Error:
                pass
            time.sleep(0.05)
        return False

    def undo(self, what: str, slot: Slot) -> None:
        if what == "restart":  # on a thread: a start takes 10-30 s on a loaded machine; chaos goes on
            def restart() -> None:
                try:
                    self.servers.restart(slot)
                    self.note("restarted", server=slot.n, pid=slot.proc.pid if slot.proc else None)
                except Exception as e:  # noqa: BLE001 - all_up() retries; the timeline says what happened
                    self.note("restart failed", server=slot.n, error=str(e))

            self.restarting = threading.Thread(target=restart, name="soak-restart", daemon=True)
            self.restarting.start()
        else:
            # resume it while the new holder is in the middle of its own servers listing: the stale
            # poller's pages then interleave with the new one's (what a lease without fencing breaks)
            overlap = self._mid_servers_listing(timeout=15.0, after=self.last_listing)
            self.servers.sigcont(slot)
            self.note("SIGCONT", server=slot.n, pid=slot.proc.pid if slot.proc else None,
                      during_new_holders_listing=overlap)


# --------------------------------------------------------------------------------------------------
# Classification of the clients' failures


def phase_at(timeline: list[dict[str, Any]], t: float) -> str:
    """The fault phase in force at time ``t`` (from the chaos timeline's ``phase ...`` notes)."""
    current = "calm"
    for note in timeline:
        if note["t"] > t:
            break
        if str(note["what"]).startswith("phase "):
            current = str(note["what"])[6:]
    return current


# OpenStack failures the product reports honestly (with the cause), expected while a phase injects them.
HONEST_UPSTREAM = re.compile(r"could not be reached|could not be asked|answered 401|timed out|OpenStack error|"
                             r"503|Service Unavailable|Unexpected response", re.I)


def classify(ev: dict[str, Any], servers: Servers, timeline: list[dict[str, Any]] | None = None) -> tuple[bool, str]:
    """(expected, class) of one failed client call."""
    slot = servers.slots[ev["server"]]
    t0, t1 = ev["t0"] - 2.0, ev["t"] + 2.0
    msg = ev.get("message", "")
    if "snapshot database is locked by another process" in msg:
        # SQLite has one write lock: while the other server is stopped mid-transaction, no write can
        # land; the tool says so clearly (issue 9 item 4). Window: the busy timeout (10 s) before the call.
        for other in servers.slots:
            for lo, hi in other.stopped:
                if lo <= t1 and t0 - 12.0 <= hi + 1.0:
                    return True, "database write lock held by a SIGSTOPped server (reported clearly)"
    phase = phase_at(timeline or [], ev["t0"])
    if phase != "calm" and not ev["kind"].startswith("transport:") and HONEST_UPSTREAM.search(msg):
        return True, f"OpenStack failure reported as such during the {phase.split(':')[0]} phase"
    if ev["kind"].startswith("transport:"):
        for lo, hi in slot.down:
            if lo <= t1 and t0 <= hi + 5.0:
                return True, f"transport error while its server was killed/restarting ({ev['kind']})"
        for lo, hi in slot.stopped:
            if lo <= t1 and t0 <= hi + 5.0:
                return True, f"transport error while its server was SIGSTOPped ({ev['kind']})"
        return False, f"transport error, server up ({ev['kind']})"
    tool = ev["tool"]
    if tool == "manage_instance":
        if re.search(r"not found|could not be found|no longer exists|no (live )?instance|gone|404", msg, re.I):
            return True, "manage_instance: target deleted by churn"
        if re.search(r"409|conflict|state|cannot|task_state|not allowed", msg, re.I):
            return True, "manage_instance: wrong state (churn put it in ERROR, or a transition was in progress)"
    return False, f"{tool}: {re.sub(r'[0-9a-f]{8}-[0-9a-f-]{27}', '<id>', msg)[:160]}"


# --------------------------------------------------------------------------------------------------
# The run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, required=True, help="duration of the fault/process chaos")
    p.add_argument("--servers", type=int, default=5000, help="simulated instances")
    p.add_argument("--clients", type=int, default=30, help="concurrent MCP clients")
    p.add_argument("--writers", type=int, default=2, help="how many of the clients also write (manage_*)")
    p.add_argument("--write-every", type=float, default=3.0, help="seconds between one writer's write steps")
    p.add_argument("--client-pause", type=float, default=0.1, help="seconds each client waits between calls")
    p.add_argument("--poll-interval", type=float, default=15.0, help="poll interval of every kind (s)")
    p.add_argument("--servers-poll-interval", type=float, default=10.0, help="servers (incremental) poll interval")
    p.add_argument("--full-reconcile", type=float, default=30.0, help="servers full reconcile interval (s)")
    p.add_argument("--lease-ttl", type=float, default=8.0)
    p.add_argument("--lease-renew", type=float, default=2.0)
    p.add_argument("--api-timeout", type=float, default=5.0, help="OPS_API_TIMEOUT; hangs last this + 3 s")
    p.add_argument("--page-size", type=int, default=200)
    p.add_argument("--churn-interval", type=float, default=2.0, help="seconds between churn rounds")
    p.add_argument("--phase-seconds", type=float, default=None, help="length of one fault phase (default: fit 8 phases)")
    p.add_argument("--process-every", type=float, default=None, help="seconds between SIGKILL/SIGSTOP events")
    p.add_argument("--restart-after", type=float, default=3.0, help="seconds a killed server stays down")
    p.add_argument("--stop-extra", type=float, default=4.0, help="a stopped holder stays stopped lease TTL + this")
    p.add_argument("--converge-timeout", type=float, default=None, help="bound of the convergence wait (s)")
    p.add_argument("--warmup-timeout", type=float, default=900.0, help="bound of the first complete sync (s)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", default=None, help="database, logs, results.json (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="soak-"))
    work.mkdir(parents=True, exist_ok=True)
    command = "python -m bench soak " + " ".join(shlex.quote(x) for x in (sys.argv[2:] if argv is None else argv))
    try:
        results = run(a, work, command.strip())
    finally:
        if not a.keep and not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(render(results))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=str))
    return 0 if results["targets_met"] else 1


def run(a: argparse.Namespace, work: Path, command: str) -> dict[str, Any]:
    rng = random.Random(a.seed)
    chaos_s = a.minutes * 60
    phase_s = a.phase_seconds or max(10.0, min(120.0, chaos_s / len(FAULT_PHASES)))
    process_every = a.process_every or max(15.0, min(90.0, chaos_s / 10))
    bound = 2 * max(a.poll_interval, a.servers_poll_interval)
    converge_timeout = a.converge_timeout or max(120.0, 6 * bound)
    db = work / "snapshot.db"
    for p in (db, work / "events.jsonl", work / "stop", work / "no-writes"):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    res: dict[str, Any] = {"command": command, "servers": a.servers, "clients": a.clients, "minutes": a.minutes,
                           "started": time.time(), "loadavg_start": os.getloadavg(), "uptime_start": _uptime(),
                           "phase_s": phase_s, "process_every_s": process_every, "bound_s": bound,
                           "settings": {"poll_interval": a.poll_interval, "servers_poll_interval": a.servers_poll_interval,
                                        "full_reconcile": a.full_reconcile, "lease_ttl": a.lease_ttl,
                                        "lease_renew": a.lease_renew, "api_timeout": a.api_timeout,
                                        "page_size": a.page_size, "churn_interval": a.churn_interval}}
    log(f"work dir {work}; generating {a.servers} instances")
    import logging  # noqa: PLC0415

    # the simulator's dropped connections are raised through uvicorn on purpose: one traceback each
    host = SimHost(a.servers, a.seed, transition_seconds=1.0)
    host.start()
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # set after uvicorn configured it
    from app.resources.registry import all_specs  # noqa: PLC0415 - only to name every kind's interval

    kinds = list(all_specs())
    intervals = {k: a.poll_interval for k in kinds}
    intervals["servers"] = a.servers_poll_interval
    env = clean_env(**host.sim.os_env(), OPS_DATABASE_URL=f"sqlite+aiosqlite:///{db}", OPS_CLOUD_LABEL=CLOUD,
                    OPS_LEASE_TTL=str(a.lease_ttl), OPS_LEASE_RENEW_INTERVAL=str(a.lease_renew),
                    OPS_POLL_INTERVALS=json.dumps(intervals), OPS_FULL_RECONCILE_INTERVAL=str(a.full_reconcile),
                    OPS_API_TIMEOUT=str(a.api_timeout), OPS_PAGE_SIZE=str(a.page_size), OPS_COLD_START_WAIT="0",
                    ALLOW_MODIFY_OPERATIONS="true", MCP_LOG_LEVEL="INFO")
    for k in [k for k in env if k.startswith(("ALLOW_MODIFY", "MCP_"))]:
        if k not in ("ALLOW_MODIFY_OPERATIONS", "MCP_LOG_LEVEL"):
            env.pop(k)
    observer: Observer | None = None
    clients: subprocess.Popen[bytes] | None = None
    with Procs(work / "logs") as procs:
        servers = Servers(procs, env)
        chaos = Chaos(host, servers, db, a, rng)
        try:
            # --- start: first server (migrates), triggers, second server, first complete sync
            t_warm = time.monotonic()
            servers.start(servers.slots[0])
            deadline = time.monotonic() + 120
            while not {"servers", "poller_lease", "sync_runs"} <= tables_in(db):
                if time.monotonic() > deadline:
                    raise RuntimeError("the first server did not create the schema")
                time.sleep(0.2)
            tables = [t for t in COMPARED if t in tables_in(db)]
            install_triggers(db, tables)
            servers.start(servers.slots[1])
            observer = Observer(db, host, servers, a.lease_ttl, a.lease_renew)
            observer.start()
            while not _all_synced(db, tables):
                if time.monotonic() - t_warm > a.warmup_timeout:
                    raise RuntimeError(f"no complete sync of every compared kind within {a.warmup_timeout:.0f}s")
                time.sleep(1.0)
            res["warmup_s"] = time.monotonic() - t_warm
            chaos.note(f"warm: every compared kind synced once ({res['warmup_s']:.0f}s)")
            baseline = _compare(db, host, tables)
            res["baseline_diff"] = {t: {"missing": len(d["missing"]), "phantom": len(d["phantom"])}
                                    for t, d in baseline.items()}

            # --- clients
            ext = host.call(lambda: next((n["id"] for n in host.sim.state.values("networks")
                                          if n.get("router:external")), ""))
            clients = procs.popen([sys.executable, "-m", "bench.soak_clients",
                                   "--urls", ",".join(s.base for s in servers.slots),
                                   "--clients", str(a.clients), "--writers", str(a.writers),
                                   "--write-every", str(a.write_every), "--ext-net", ext,
                                   "--events", str(work / "events.jsonl"), "--stop-file", str(work / "stop"),
                                   "--no-writes-file", str(work / "no-writes"),
                                   "--deadline", str(chaos_s + converge_timeout + 180),
                                   "--pause", str(a.client_pause), "--seed", str(a.seed)],
                                  "clients", stdout=subprocess.PIPE)

            # --- chaos
            t_start = time.monotonic()
            end = t_start + chaos_s
            phase_i, next_phase, next_tick = 0, t_start, t_start
            next_churn = t_start
            next_process = t_start + min(process_every, chaos_s / 3)
            n_process = 0
            pending: tuple[str, Slot, float] | None = None
            phase = "calm"
            churned = Counter()
            from app.simulator.churn import churn_once

            churn_rng = random.Random(f"{a.seed}:churn")
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_phase:
                    phase = FAULT_PHASES[phase_i % len(FAULT_PHASES)]
                    phase_i += 1
                    chaos.enter(phase)
                    next_phase = now + (min(60.0, phase_s) if phase == "kind_down" and phase_s > 60 else phase_s)
                if now >= next_tick:
                    chaos.tick(phase)
                    next_tick = now + 5.0
                if now >= next_churn:
                    ev = host.call(lambda: churn_once(host.sim, churn_rng))
                    churned.update(k for k, v in ev.items() if v)
                    next_churn = now + a.churn_interval
                if pending is not None and now >= pending[2]:
                    chaos.undo(pending[0], pending[1])
                    pending = None
                    next_process = max(next_process, time.monotonic() + 5.0)
                if pending is None and now >= next_process and now < end - 10 and not chaos.busy():
                    pending = chaos.process_event(n_process)
                    n_process += 1
                    next_process = now + process_every
                if clients.poll() is not None:
                    raise RuntimeError(f"the clients process exited {clients.returncode} before the end; "
                                       f"see {clients._bench_log.name}")  # type: ignore[attr-defined]
                time.sleep(0.2)
            if pending is not None:
                chaos.undo(pending[0], pending[1])

            # --- the end: faults off, churn and writes stop, every server up; wait for convergence
            chaos.clear()
            (work / "no-writes").touch()
            chaos.note("faults off, churn and writes stopped")
            t_off = time.monotonic()
            chaos.wait_restart()
            servers.all_up()
            res["all_up_s"] = time.monotonic() - t_off
            chaos.note("every server up")
            t_quiet = time.monotonic()
            t_quiet_wall = time.time()
            converged_s = None
            diff: dict[str, dict[str, set[str]]] = {}
            while time.monotonic() - t_quiet < converge_timeout:
                diff = _compare(db, host, tables)
                if all(not d["missing"] and not d["phantom"] for d in diff.values()):
                    converged_s = time.monotonic() - t_quiet
                    time.sleep(2.0)  # and it stays so
                    diff = _compare(db, host, tables)
                    if all(not d["missing"] and not d["phantom"] for d in diff.values()):
                        break
                    converged_s = None
                time.sleep(1.0)
            chaos.note("convergence " + (f"after {converged_s:.1f}s" if converged_s is not None else
                                          f"not reached within {converge_timeout:.0f}s"))
            res["converged_s"] = converged_s
            res["diff"] = {t: {"missing": sorted(d["missing"])[:10], "phantom": sorted(d["phantom"])[:10],
                               "n_missing": len(d["missing"]), "n_phantom": len(d["phantom"])} for t, d in diff.items()}
            res["quiet_at"] = t_quiet_wall
            res["churn"] = dict(churned)
        finally:
            (work / "stop").touch()
            client_out: dict[str, Any] = {}
            if clients is not None:
                try:
                    out, _ = clients.communicate(timeout=120)
                    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
                    client_out = json.loads(lines[-1]) if lines else {}
                except subprocess.TimeoutExpired:
                    pass
                procs.stop(clients)
            if observer is not None:
                observer.final()
            servers.shutdown()
            host.stop()
            res["timeline"] = chaos.timeline

    # --- figures
    res["integrity_check"] = _integrity(db)
    res["client_results"] = client_out
    events = [json.loads(ln) for ln in (work / "events.jsonl").read_text().splitlines() if ln.strip()] \
        if (work / "events.jsonl").exists() else []
    failures = [e for e in events if e["kind"] != "ok"]
    expected: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    samples: dict[str, dict[str, Any]] = {}
    for e in failures:
        ok, cls = classify(e, servers, res.get("timeline") or [])
        (expected if ok else unexpected)[cls] += 1
        if not ok:
            samples.setdefault(cls, e)
    res["errors_expected"] = dict(expected.most_common())
    res["errors_unexpected"] = dict(unexpected.most_common())
    res["error_samples"] = samples
    writes = [e for e in events if e["tool"].startswith("manage_") and e["kind"] == "ok"]
    res["writes_ok"] = len(writes)
    res["writes_during_full_sync"] = _overlapping_full_runs(db, writes)
    assert observer is not None
    res["tombstones"] = observer.tombstones
    res["revivals"] = observer.revivals
    res["false_tombstones"] = observer.false_tombstones
    res["observer_errors"] = dict(observer.errors)
    res["lease"] = _lease_figures(observer.lease_log, servers, a.lease_ttl, a.lease_renew, res.get("quiet_at"))
    res["server_logs"] = _log_figures(work / "logs")
    res["sync_runs"] = _run_figures(db)
    res["finished"] = time.time()
    res["loadavg_end"] = os.getloadavg()
    res["uptime_end"] = _uptime()
    res["targets"] = {
        "0 false tombstones": not res["false_tombstones"],
        f"0 missing/phantom within {bound:.0f}s (2 poll intervals) after faults stop":
            res.get("converged_s") is not None and res["converged_s"] <= bound,
        "0 unexpected tool errors": not res["errors_unexpected"],
        "a healthy poller never lost its lease": res["lease"]["healthy_losses"] == 0,
        "integrity_check ok": res["integrity_check"] == "ok",
    }
    res["targets_met"] = all(res["targets"].values())
    if a.keep or a.workdir:
        (work / "results.json").write_text(json.dumps(res, indent=1, default=str))
    return res


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _all_synced(db: Path, tables: list[str]) -> bool:
    try:
        with ro(db) as c:
            ok = {r[0] for r in c.execute("SELECT DISTINCT kind FROM sync_runs WHERE status='succeeded' AND mode='full'")}
    except sqlite3.Error:
        return False
    return set(tables) <= ok


def _compare(db: Path, host: SimHost, tables: list[str]) -> dict[str, dict[str, set[str]]]:
    truth = host.truth()
    try:
        snap = live_ids(db, tables)
    except sqlite3.Error:
        snap = {t: set() for t in tables}
    return {t: {"missing": truth[t] - snap[t], "phantom": snap[t] - truth[t]} for t in tables}


def _integrity(db: Path) -> str:
    with sqlite3.connect(db, timeout=60) as c:
        rows = c.execute("PRAGMA integrity_check").fetchall()
    return "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows[:10])


def _ts(v: Any) -> float:
    from datetime import datetime, timezone

    return datetime.fromisoformat(str(v)).replace(tzinfo=timezone.utc).timestamp()


def _overlapping_full_runs(db: Path, writes: list[dict[str, Any]]) -> int:
    with ro(db) as c:
        spans = [(_ts(r[0]), _ts(r[1]) if r[1] else float("inf"))
                 for r in c.execute("SELECT started_at, finished_at FROM sync_runs WHERE mode='full'")]
    return sum(1 for w in writes if any(lo <= w["t"] and w["t0"] <= hi for lo, hi in spans))


def _run_figures(db: Path) -> dict[str, Any]:
    with ro(db) as c:
        by = [dict(r) for r in c.execute("SELECT mode, status, count(*) AS n FROM sync_runs GROUP BY mode, status")]
        running = c.execute("SELECT count(*) FROM sync_runs WHERE status='running'").fetchone()[0]
    return {"by_mode_status": by, "left_running": running}


def _lease_figures(log_: list[dict[str, Any]], servers: Servers, ttl: float, renew: float,
                   quiet_at: float | None) -> dict[str, Any]:
    owners = [e["owner"] for e in log_]
    epochs = {e["epoch"] for e in log_ if e.get("epoch") is not None}
    handovers = []
    healthy_losses = []
    for prev, cur in zip(log_, log_[1:], strict=False):
        if prev["owner"] == cur["owner"]:
            continue  # same owner, new epoch (re-acquired after expiry)
        t = cur["t"]
        try:
            pid = int(str(prev["owner"]).split(":")[1])
        except (IndexError, ValueError):
            pid = -1
        slot = servers.by_pid(pid)
        reason = "unknown owner"
        if slot is not None:
            killed = slot.killed_pids.get(pid)
            window = ttl + 2 * renew + 2.0
            if killed is not None and killed <= t:
                reason = "holder killed"
            elif any(lo - 1.0 <= t and t - window <= hi for lo, hi in slot.stopped):
                reason = "holder stopped"
            else:
                reason = "HEALTHY HOLDER LOST IT"
                healthy_losses.append({"t": t, "from": prev["owner"], "to": cur["owner"], "server": slot.n})
        handovers.append({"t": t, "from": prev["owner"], "to": cur["owner"], "reason": reason})
    return {"distinct_owners": len(set(owners)), "distinct_epochs": len(epochs) if epochs else None,
            "handovers": len(handovers), "by_reason": dict(Counter(h["reason"] for h in handovers)),
            "healthy_losses": len(healthy_losses), "healthy_loss_samples": healthy_losses[:5]}


def _log_figures(logs: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in sorted(logs.glob("*server*.log")):
        text = f.read_text(errors="replace")
        out[f.name] = {"lease_taken": len(re.findall(r"poller lease \S+ taken", text)),
                       "lease_lost": len(re.findall(r"poller lease \S+ lost", text)),
                       "error_lines": len(re.findall(r"\bERROR\b", text)),
                       "tracebacks": text.count("Traceback (most recent call last)")}
    return out


# --------------------------------------------------------------------------------------------------
# Report


def render(r: dict[str, Any]) -> str:
    L: list[str] = []
    c = r.get("client_results") or {}
    L.append(f"# soak: {r['servers']} instances, {r['clients']} clients, {r['minutes']} min of faults")
    L.append(f"command: {r['command']}")
    L.append(f"uptime at start: {r['uptime_start']}")
    L.append(f"uptime at end:   {r.get('uptime_end')}")
    L.append(f"warm-up (first complete sync of every compared kind): {r.get('warmup_s', float('nan')):.0f} s")
    L.append(f"calls: {c.get('calls')} (latency ms p50 {_f(c.get('latency_ms', {}).get('p50'))}, "
             f"p95 {_f(c.get('latency_ms', {}).get('p95'))}, p99 {_f(c.get('latency_ms', {}).get('p99'))}); "
             f"writes ok: {r.get('writes_ok')} ({r.get('writes_during_full_sync')} during a full sync); "
             f"write steps: {c.get('writes_done')}")
    L.append(f"churn: {r.get('churn')}")
    L.append("errors, expected (classified):")
    for k, v in (r.get("errors_expected") or {}).items():
        L.append(f"  {v:6d}  {k}")
    L.append("errors, unexpected:")
    for k, v in (r.get("errors_unexpected") or {}).items():
        L.append(f"  {v:6d}  {k}")
    L.append(f"tombstones: {r.get('tombstones')} (revivals {r.get('revivals')}); "
             f"false tombstones: {len(r.get('false_tombstones') or [])}")
    by_kind = Counter(f"{ft['tbl']} via {ft['run'].get('mode')} run ({ft['run'].get('status')})"
                      for ft in r.get("false_tombstones") or [])
    for k, v in by_kind.most_common():
        L.append(f"  {v:6d}  {k}")
    conv = r.get("converged_s")
    L.append(f"every server running again {r.get('all_up_s', 0):.1f} s after faults stopped (killed ones restarted)")
    L.append(f"convergence after that: {('%.1f s' % conv) if conv is not None else 'NOT REACHED'} "
             f"(bound {r['bound_s']:.0f} s = 2 poll intervals)")
    L.append("missing / phantom after convergence (per kind):")
    for t, d in (r.get("diff") or {}).items():
        L.append(f"  {t:18s} missing {d['n_missing']:5d}  phantom {d['n_phantom']:5d}"
                 + (f"  e.g. {(d['missing'] + d['phantom'])[:3]}" if d["n_missing"] or d["n_phantom"] else ""))
    le = r.get("lease") or {}
    L.append(f"lease: {le.get('distinct_owners')} distinct owners, epochs {le.get('distinct_epochs')}, "
             f"{le.get('handovers')} handovers {le.get('by_reason')}; healthy holder lost it: {le.get('healthy_losses')}")
    L.append(f"server logs: {r.get('server_logs')}")
    L.append(f"sync runs: {r.get('sync_runs')}")
    L.append(f"integrity_check: {r.get('integrity_check')}")
    L.append("targets:")
    for k, v in (r.get("targets") or {}).items():
        L.append(f"  [{'met' if v else 'MISSED'}] {k}")
    return "\n".join(L)


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}"
