"""The server as a user runs it: a subprocess speaking stdio, and one serving streamable-http with
bearer auth, both polling a simulator over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from app.simulator.core import Simulator

TOKEN = "test-token-0123456789abcdef"


def server_env(sim: Simulator, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_"))}
    env.update(sim.os_env())
    env.update({
        "OPS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "OPS_POLL_INTERVAL": "30",
        "OPS_COLD_START_WAIT": "15",
        "MCP_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_stdio_lists_and_calls_tools(sim: Simulator, tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "app", "serve"],
                                   env=server_env(sim, tmp_path / "stdio.db"), cwd=str(Path.cwd()))
    async with Client(params, read_timeout_seconds=60) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "get_sync_status" in tools
        deadline = time.monotonic() + 60
        while True:
            result = await client.call_tool("get_sync_status", {"kind": "servers"})
            assert not result.is_error, result.content
            kinds = result.structured_content["snapshot"]["kinds"]
            if kinds[0]["status"] == "ok" or time.monotonic() > deadline:
                break
        assert kinds[0]["status"] == "ok", kinds


@pytest.fixture
def http_server(sim: Simulator, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    env = server_env(sim, tmp_path / "http.db", REMOTE_SECRET_KEY=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--port", str(port), "--auth-enable"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded machine may start it slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("server did not start: " + proc.stderr.read().decode()[-2000:])
    yield {"base": base, "proc": proc}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_http_auth_probes_and_metrics(http_server: dict[str, Any]) -> None:
    base = http_server["base"]
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    r = httpx.post(base + "/mcp", json=init, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(base + "/mcp", json=init, headers={**headers, "Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = httpx.post(base + f"/mcp?access_token={TOKEN}", json=init, headers=headers)
    assert r.status_code == 401, "a token in the query string must be ignored"
    assert httpx.get(base + "/metrics").status_code == 401
    r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and "mcp_openstack_ops_snapshot_rows" in r.text
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 60
    while httpx.get(base + "/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["poller_leader"] is True


async def test_http_client_with_token(http_server: dict[str, Any]) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as hc:
        async with Client(streamable_http_client(http_server["base"] + "/mcp", http_client=hc)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "get_sync_status" in tools
            result = await client.call_tool("get_sync_status", {"runs": 3})
            assert not result.is_error
            assert "snapshot" in result.structured_content


def test_refuses_public_bind_without_auth(sim: Simulator, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--host", "0.0.0.0", "--port", "0"],
        env=server_env(sim, tmp_path / "x.db"), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "Refusing to serve on non-loopback address 0.0.0.0" in proc.stderr
