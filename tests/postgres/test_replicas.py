"""Two server replicas on one PostgreSQL database, as docs/deploy.md runs them: started together on an
empty database (the migration lock serialises them), exactly one polls (the lease), both answer the
same, MCP sessions are per replica (the load balancer must be sticky), a confirmation token issued on
one replica is accepted once on the other, and SIGKILLing the poller hands the lease over."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from app.simulator.core import Simulator
from tests import backend
from tests.crash.procs import ROOT, free_port, server_env, stop

TOKEN = "replica-test-token-0123456789abcdef"
TTL, RENEW = 3.0, 0.5
DEADLINE = 90.0  # generous bound for any awaited state on a loaded machine (never a timing assertion)


class Replica:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--host", "127.0.0.1",
                 "--port", str(self.port), "--auth-enable", "--allow-modify-operations"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.base + path, headers=self.headers, timeout=5)
        except httpx.TransportError:
            return None

    def ready(self) -> dict[str, Any] | None:
        r = self.get("/readyz")
        return r.json() if r is not None and r.status_code == 200 else None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def until(what: str, check: Callable[[], Any], replicas: list[Replica]) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        for r in replicas:
            assert r.proc.poll() is None or r.proc.returncode == -signal.SIGKILL, (
                f"replica on port {r.port} exited {r.proc.returncode}:\n{r.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}\n" + "\n---\n".join(r.tail() for r in replicas))
        await asyncio.sleep(0.2)


def lease(url: str) -> tuple[str, int]:
    rows = backend.rows(url, "SELECT owner, epoch FROM poller_lease")
    return (rows[0][0], int(rows[0][1])) if rows else ("", -1)


async def call(replica: Replica, tool: str, **arguments: Any) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers=replica.headers, timeout=60) as hc:
        async with Client(streamable_http_client(replica.base + "/mcp", http_client=hc)) as client:
            result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} on {replica.base}: {result.content[0].text if result.content else result}"
    return result.structured_content


async def call_error(replica: Replica, tool: str, **arguments: Any) -> str:
    async with httpx2.AsyncClient(headers=replica.headers, timeout=60) as hc:
        async with Client(streamable_http_client(replica.base + "/mcp", http_client=hc)) as client:
            result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded on {replica.base}"
    return result.content[0].text


def without_snapshot(result: dict[str, Any]) -> dict[str, Any]:
    """The answer without what is per process: the freshness block and when a report was computed
    (each replica rebuilds its own reports; their data versions must agree)."""
    out = {k: v for k, v in result.items() if k != "snapshot"}
    if isinstance(out.get("computed"), dict):
        out["computed"] = {k: v for k, v in out["computed"].items() if k != "computed_at"}
    return out


@pytest.fixture
def replicas(make_sim: Callable[..., Simulator], tmp_path: Path) -> Iterator[tuple[str, list[Replica]]]:
    sim = make_sim(servers=30, seed=5, transition_seconds=0.2)
    url = backend.database_url(tmp_path / "replicas.db", empty=True)  # nothing migrated yet
    env = server_env(sim, url, REMOTE_SECRET_KEY=TOKEN, OPS_LEASE_TTL=str(TTL),
                     OPS_LEASE_RENEW_INTERVAL=str(RENEW), OPS_POLL_INTERVAL="5", OPS_COLD_START_WAIT="0")
    # Both started before either has migrated: they meet on the empty database.
    started = [Replica(env, tmp_path / "a.log"), Replica(env, tmp_path / "b.log")]
    try:
        yield url, started
    finally:
        for r in started:
            stop(r.proc)


async def test_two_replicas_share_one_database(replicas: tuple[str, list[Replica]], make_sim: Any) -> None:
    url, (a, b) = replicas
    both = [a, b]
    # Both start: the second migrator waited for the first (advisory lock) and found the schema at head.
    await until("both replicas healthy", lambda: all((r.get("/healthz") or httpx.Response(0)).status_code == 200
                                                     for r in both), both)
    await until("both replicas ready (first sync done)", lambda: all(r.ready() for r in both), both)
    from app.db.migrate import current, head

    assert current(url) == head()

    # Exactly one polls: the lease holder, named in the lease row.
    states = [r.ready() for r in both]
    leaders = [r for r, s in zip(both, states, strict=True) if s["poller_leader"]]
    assert len(leaders) == 1, states
    leader = leaders[0]
    follower = b if leader is a else a
    owner, epoch = lease(url)
    assert f":{leader.proc.pid}:" in owner, owner

    # Both answer a read tool identically (the data is the database's, whichever replica reads it);
    # a poll can land between two reads, so the pair is re-read until it agrees (bounded).
    async def same_answer(tool: str, **args: Any) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while True:
            x, y = await call(a, tool, **args), await call(b, tool, **args)
            if without_snapshot(x) == without_snapshot(y):
                return x
            assert time.monotonic() < deadline, (tool, x, y)

    volumes = await same_answer("get_volume_list", limit=20)
    assert volumes["total"] > 0
    found = await same_answer("search_instances", search_term="-", search_in="name", case_sensitive=True, limit=50)
    assert found["total"] > 0
    await same_answer("get_cluster_status")

    # MCP sessions live in the replica that created them: the load balancer must keep a session on one
    # replica. A session id from A is unknown to B (404: the client must start a new session there).
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    h = {**a.headers, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    r = httpx.post(a.base + "/mcp", json=init, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    assert httpx.post(a.base + "/mcp", json=ping, headers={**h, "mcp-session-id": sid}, timeout=30).status_code == 200
    assert httpx.post(b.base + "/mcp", json=ping, headers={**h, "mcp-session-id": sid}, timeout=30).status_code == 404

    # A confirmation token issued on one replica is accepted once on the other, then refused (stopping an
    # instance needs confirmation, and the instance is still there for the replayed call to resolve).
    active = await call(a, "get_instances_by_status", status="ACTIVE", limit=50)
    names = [i["name"] for i in active["instances"]]
    target = next(i for i in active["instances"] if names.count(i["name"]) == 1)
    preview = await call(a, "manage_instance", instance_name=target["id"], action="stop")
    assert preview["status"] == "confirmation_required", preview
    token = preview["confirmation_token"]
    done = await call(b, "manage_instance", instance_name=target["id"], action="stop", confirmation_token=token)
    assert done["status"] in ("accepted", "completed"), done
    again = await call_error(a, "manage_instance", instance_name=target["id"], action="stop", confirmation_token=token)
    assert "already used" in again, again

    # SIGKILL the poller: the other replica takes the lease over once it expires, with a new epoch
    # (fencing: the dead holder's tenure can never write again), and polls.
    last_run = int(backend.rows(url, "SELECT coalesce(max(id), 0) FROM sync_runs")[0][0])
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait(timeout=30)
    await until("the follower holds the lease", lambda: f":{follower.proc.pid}:" in lease(url)[0], [follower])
    assert lease(url)[1] > epoch
    await until("the follower reports itself leader", lambda: (follower.ready() or {}).get("poller_leader"),
                [follower])
    await until("the new leader polls", lambda: backend.count_rows(
        url, "sync_runs", f"id > {last_run} AND status = 'succeeded'") > 0, [follower])
    assert (await call(follower, "get_volume_list", limit=5))["total"] > 0
