"""/metrics as Prometheus scrapes it: a real server process polling a simulator, scraped over HTTP and
parsed with prometheus_client's own parser. On the MCP port it needs the MCP token; with
OPS_METRICS_PORT it moves to its own port, open, and leaves the MCP port."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import __version__
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.crash.procs import free_port, server_env, stop
from tests.security.test_oauth import start

TOKEN = "metrics-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
P = "mcp_openstack_ops_"


@contextlib.contextmanager
def serving(env: dict[str, str], tmp: Path) -> Iterator[str]:
    """A server process (60 s to come up: the machine may be loaded); yields its base URL."""
    port = free_port()
    proc = start(env, port, tmp / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], family: str, sample: str | None = None, **labels: str) -> float | None:
    for s in fams[family].samples:
        if (sample is None or s.name == sample) and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    server = SimulatorServer(Simulator(servers=12, seed=7, transition_seconds=0.2))
    yield server.start()
    server.stop()


def scrape_until(url: str, ready: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Scrape until ``ready(families)`` holds (the first sync runs in the background), 90 s at most."""
    deadline = time.monotonic() + 90
    while True:
        r = httpx.get(url, headers=headers or {}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        fams = families(r.text)
        if ready(fams) or time.monotonic() > deadline:
            return fams
        time.sleep(0.5)


def servers_synced(fams: dict[str, Any]) -> bool:
    return value(fams, P + "snapshot_last_success_timestamp_seconds", kind="servers") is not None and \
        value(fams, P + "sync_runs", P + "sync_runs_total", kind="flavors", outcome="succeeded") is not None


def test_metrics_on_the_mcp_port_behind_the_token(sim: Simulator, tmp_path: Path) -> None:
    env = server_env(sim, tmp_path / "m.db", REMOTE_SECRET_KEY=TOKEN, OPS_POLL_INTERVAL="600",
                     REMOTE_AUTH_ENABLE="true")
    with serving(env, tmp_path) as base:
        assert httpx.get(base + "/metrics", timeout=10).status_code == 401
        started = time.time()
        fams = scrape_until(base + "/metrics", servers_synced, AUTH)

        # no metric of ours squats openstack-exporter's prefix
        assert not [n for n in fams if n.startswith("openstack_")]
        ours = [n for n in fams if n.startswith(P)]
        assert ours

        # scrape-time snapshot gauges: rows, last success as a unix timestamp (not an age), stale
        assert value(fams, P + "snapshot_rows", kind="servers") == 12.0
        last = value(fams, P + "snapshot_last_success_timestamp_seconds", kind="servers")
        assert last is not None and started - 3600 < last < time.time() + 3600
        assert value(fams, P + "snapshot_stale", kind="servers") == 0.0
        assert fams[P + "snapshot_rows"].type == "gauge"

        # the poller: leader with an epoch, its runs counted and timed per kind
        assert value(fams, P + "poller_leader") == 1.0
        assert (value(fams, P + "poller_lease_epoch") or 0) >= 1
        assert fams[P + "sync_runs"].type == "counter"
        assert fams[P + "sync_duration_seconds"].type == "histogram"
        assert (value(fams, P + "sync_duration_seconds", P + "sync_duration_seconds_count", kind="flavors",
                      mode="full") or 0) >= 1
        assert (value(fams, P + "sync_changes", P + "sync_changes_total", kind="servers", change="added")
                or 0) >= 12

        # OpenStack API calls per service
        assert (value(fams, P + "cloud_api_requests", P + "cloud_api_requests_total", service="compute") or 0) >= 1
        assert (value(fams, P + "cloud_api_request_duration_seconds",
                      P + "cloud_api_request_duration_seconds_count", service="compute") or 0) >= 1

        # build info, process and GC metrics come with prometheus_client
        assert value(fams, P + "build_info", version=__version__) == 1.0
        assert "process_resident_memory_bytes" in fams and "python_gc_collections" in fams

        # a refused request is counted by reason
        fams = families(httpx.get(base + "/metrics", headers=AUTH, timeout=10).text)
        assert (value(fams, P + "http_auth_failures", P + "http_auth_failures_total", reason="missing")
                or 0) >= 1


def test_metrics_on_their_own_port(sim: Simulator, tmp_path: Path) -> None:
    mport = free_port()
    env = server_env(sim, tmp_path / "m2.db", REMOTE_SECRET_KEY=TOKEN, OPS_POLL_INTERVAL="600",
                     OPS_METRICS_PORT=str(mport))
    with serving({**env, "REMOTE_AUTH_ENABLE": "true"}, tmp_path) as base:
        # gone from the MCP port (still behind its token: 404 once authenticated)
        assert httpx.get(base + "/metrics", headers=AUTH, timeout=10).status_code == 404
        fams = scrape_until(f"http://127.0.0.1:{mport}/metrics", servers_synced)  # no token needed
        assert value(fams, P + "snapshot_rows", kind="servers") == 12.0
        # only /metrics there: the MCP endpoint is not reachable without the token through this port
        assert httpx.post(f"http://127.0.0.1:{mport}/mcp", json={}, timeout=10).status_code == 404

        # a tool call shows up in the tool metrics
        from tests.security.test_http_security import INIT, MCP_HEADERS

        r = httpx.post(base + "/mcp", json=INIT, headers={**MCP_HEADERS, **AUTH}, timeout=30)
        assert r.status_code == 200
        sid = r.headers["mcp-session-id"]
        hdrs = {**MCP_HEADERS, **AUTH, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
        httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=hdrs,
                   timeout=30)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "get_sync_status", "arguments": {"kind": "servers"}}}
        assert httpx.post(base + "/mcp", json=call, headers=hdrs, timeout=60).status_code == 200
        fams = families(httpx.get(f"http://127.0.0.1:{mport}/metrics", timeout=10).text)
        clouds = {s.labels["cloud"] for s in fams[P + "tool_calls"].samples if s.labels.get("tool") == "get_sync_status"}
        assert len(clouds) == 1 and "" not in clouds, clouds  # the served cloud's label
        cloud = clouds.pop()
        assert value(fams, P + "tool_calls", P + "tool_calls_total", tool="get_sync_status", outcome="ok",
                     cloud=cloud) == 1.0
        assert value(fams, P + "tool_duration_seconds", P + "tool_duration_seconds_count",
                     tool="get_sync_status", cloud=cloud) == 1.0


def test_metrics_port_taken_is_one_line(sim: Simulator, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from tests.crash.procs import ROOT

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        taken = held.getsockname()[1]
        env = server_env(sim, tmp_path / "m3.db", REMOTE_SECRET_KEY=TOKEN, OPS_METRICS_PORT=str(taken))
        proc = subprocess.run([sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--port",
                               str(free_port()), "--auth-enable"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"error: cannot listen on 127.0.0.1:{taken}: the port is already in use (another server, "
                     "or an earlier one still running). Stop it, or choose another port with --metrics-port / "
                     "OPS_METRICS_PORT."], proc.stderr
