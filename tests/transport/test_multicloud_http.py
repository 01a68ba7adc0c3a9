"""Several clouds over real HTTP (issue 15 part 1): a server process serving prod, staging and a cloud
whose Keystone does not answer, from one clouds.yaml and one database. /readyz stays ready and names
the failing cloud; /metrics has one series per cloud; tools over HTTP refuse an ambiguous call."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests import backend
from tests.crash.procs import ROOT, free_port, stop
from tests.security.test_oauth import start
from tests.tools.test_multicloud import clouds_yaml

P = "mcp_openstack_ops_"


@pytest.fixture
def sims() -> Iterator[dict[str, Simulator]]:
    servers = {"prod": SimulatorServer(Simulator(servers=5, seed=11, transition_seconds=0.2)),
               "staging": SimulatorServer(Simulator(servers=9, seed=12, transition_seconds=0.2))}
    yield {label: s.start() for label, s in servers.items()}
    for s in servers.values():
        s.stop()


def env_for(sims: dict[str, Simulator], tmp: Path) -> dict[str, str]:
    conf = clouds_yaml(sims)
    # a third cloud whose Keystone is not there: nothing listens on this port
    conf["clouds"]["broken"] = {"auth": {**conf["clouds"]["prod"]["auth"],
                                         "auth_url": f"http://127.0.0.1:{free_port()}/v3"},
                                "region_name": "RegionOne", "identity_api_version": "3"}
    (tmp / "clouds.yaml").write_text(yaml.safe_dump(conf))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_", "MCP_"))}
    env.update({"OS_CLIENT_CONFIG_FILE": str(tmp / "clouds.yaml"), "OPS_CLOUDS": "prod,staging,broken",
                "OPS_DATABASE_URL": backend.database_url(tmp / "multi.db"), "MCP_LOG_LEVEL": "WARNING",
                "OPS_POLL_INTERVAL": "600", "PYTHONPATH": str(ROOT)})
    return env


def wait_readyz(base: str, done: Any) -> dict[str, Any]:
    """/readyz until ``done(body)`` (the first syncs run in the background), 120 s at most."""
    deadline = time.monotonic() + 120
    while True:
        body = httpx.get(base + "/readyz", timeout=10).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def test_three_clouds_one_failing_over_http(sims: dict[str, Simulator], tmp_path: Path) -> None:
    port = free_port()
    proc = start(env_for(sims, tmp_path), port, tmp_path / "server.log")  # 60 s to come up (a loaded machine)
    base = f"http://127.0.0.1:{port}"
    try:
        check(base)
    finally:
        stop(proc)


def check(base: str) -> None:
    """What the running server says: readiness, metrics and tools, per cloud."""

    def settled(body: dict[str, Any]) -> bool:
        by = {c["cloud"]: c for c in body.get("clouds", [])}
        return by.get("prod", {}).get("ready") and by.get("staging", {}).get("ready") and \
            bool(by.get("broken", {}).get("reasons"))

    body = wait_readyz(base, settled)
    r = httpx.get(base + "/readyz", timeout=10)
    assert r.status_code == 200, "a failing cloud must not take the others out of service"
    assert body["ready"] is True and body["not_ready_clouds"] == ["broken"]
    assert body["reason"].startswith("cloud broken: ")
    assert [c["cloud"] for c in body["clouds"]] == ["prod", "staging", "broken"]

    fams = {f.name: f for f in text_string_to_metric_families(httpx.get(base + "/metrics", timeout=10).text)}

    def value(family: str, **labels: str) -> float | None:
        for s in fams[family].samples:
            if all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        return None

    assert value(P + "snapshot_rows", kind="servers", cloud="prod") == 5.0
    assert value(P + "snapshot_rows", kind="servers", cloud="staging") == 9.0
    assert value(P + "snapshot_stale", kind="servers", cloud="broken") == 1.0
    assert value(P + "snapshot_stale", kind="servers", cloud="prod") == 0.0
    assert all(value(P + "poller_leader", cloud=c) == 1.0 for c in ("prod", "staging", "broken"))

    async def tools() -> None:
        async with httpx2.AsyncClient(timeout=60) as hc:
            async with Client(streamable_http_client(base + "/mcp", http_client=hc)) as client:
                bad = await client.call_tool("get_sync_status", {})
                assert bad.is_error and "serves 3 clouds: prod, staging, broken" in bad.content[0].text
                got = await client.call_tool("get_sync_status", {"cloud": "staging"})
                assert not got.is_error and got.structured_content["snapshot"]["cloud"] == "staging"
                report = await client.call_tool("get_clouds", {})
                entries = {c["cloud"]: c for c in report.structured_content["clouds"]}
                assert entries["prod"]["instances"] == 5 and entries["staging"]["instances"] == 9
                assert entries["broken"]["ready"] is False and entries["broken"]["instances"] is None

    asyncio.run(tools())
