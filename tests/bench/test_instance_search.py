"""search_instances (and the other instance reads) at 50,000 instances: p50/p99, server-side (the
service call on the server's own AppContext) and through the in-process MCP client.

Run: ``python -m pytest tests/bench/test_instance_search.py -m bench -s``. Building the fleet (a real
50k simulator sync through the real writer) takes about two minutes; set ``BENCH_DB=/path/x.db`` to keep
the synced file and reuse it on the next run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.context import open_app_context
from app.services import instances
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.tools.conftest import make_settings, mcp_client, sync_everything

pytestmark = pytest.mark.bench
N = int(os.environ.get("BENCH_SERVERS", "50000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "60"))
BUDGET_P99_MS = 25.0

CASES: list[tuple[str, dict[str, Any]]] = [
    ("name 'web'", {"search_term": "web"}),
    ("name '12345' (rare)", {"search_term": "12345"}),
    ("name 'Web' case_sensitive", {"search_term": "Web", "case_sensitive": True}),
    ("name 'db' offset 5000", {"search_term": "db", "offset": 5000}),
    ("status 'shut'", {"search_term": "shut", "search_in": "status"}),
    ("host 'compute-001'", {"search_term": "compute-001", "search_in": "host"}),
    ("flavor 'large'", {"search_term": "large", "search_in": "flavor"}),
    ("image 'ubuntu'", {"search_term": "ubuntu", "search_in": "image"}),
    ("availability_zone 'zone-b'", {"search_term": "zone-b", "search_in": "availability_zone"}),
    ("ip '10.0.3.1'", {"search_term": "10.0.3.1", "search_in": "ip"}),
    ("project 'web'", {"search_term": "web", "search_in": "project"}),
    ("all 'cmp'", {"search_term": "cmp", "search_in": "all"}),
    ("all '10.0.3.1'", {"search_term": "10.0.3.1", "search_in": "all"}),
]


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def _time(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    await fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), _pct(samples, 0.99)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = SimulatorServer(Simulator(servers=N, seed=7, transition_seconds=0.2))
    sim = server.start()
    cached = os.environ.get("BENCH_DB")
    db = Path(cached) if cached else tmp_path_factory.mktemp("bench") / "b.db"
    settings = make_settings(db)
    if not (cached and db.exists()):
        t0 = time.perf_counter()
        asyncio.run(sync_everything(settings, sim))
        print(f"\nsynced {N} instances in {time.perf_counter() - t0:.0f} s")
    yield settings, sim
    server.stop()


async def test_search_instances_latency(fleet: Any) -> None:
    settings, sim = fleet
    rows = []
    async with open_app_context(settings, **sim.connect_kwargs()) as app:
        for label, args in CASES:
            a = {"search_in": "name", "limit": 50, "offset": 0, "case_sensitive": False, **args}
            res = await instances.search(app, a["search_term"], a["search_in"], a["limit"], a["offset"],
                                         a["case_sensitive"])
            p50, p99 = await _time(lambda a=a: instances.search(app, a["search_term"], a["search_in"], a["limit"],
                                                                a["offset"], a["case_sensitive"]), REPEAT)
            rows.append((label, res.total, p50, p99))
    async with mcp_client(settings, sim) as client:
        client_rows = []
        for label, args in CASES:
            p50, p99 = await _time(lambda args=args: client.call_tool("search_instances", args), REPEAT // 2)
            client_rows.append((p50, p99))
    print(f"\nsearch_instances at {N} instances (limit 50), ms: server p50/p99 | MCP client p50/p99")
    for (label, total, p50, p99), (c50, c99) in zip(rows, client_rows, strict=True):
        print(f"  {label:32s} total={total:6d}  {p50:6.1f} {p99:6.1f} | {c50:6.1f} {c99:6.1f}")
    slow = [r for r in rows if r[3] > BUDGET_P99_MS]
    assert not slow, f"server-side p99 over {BUDGET_P99_MS} ms: {slow}"


async def test_other_instance_reads_latency(fleet: Any) -> None:
    settings, sim = fleet
    async with mcp_client(settings, sim) as client:
        name = (await client.call_tool("search_instances", {"search_term": "web", "limit": 1})).structured_content
        one = name["instances"][0]["name"]
        calls = {
            "get_instance_by_name": {"instance_name": one},
            "get_instance_by_name (typo, not found)": {"instance_name": one[:-1] + "x"},
            "get_instance_details all p1": {"all_instances": True},
            "get_instance_details all offset 40000": {"all_instances": True, "offset": 40000},
            "get_instance_details include_all 200": {"all_instances": True, "limit": 200, "include_all": True},
            "get_instances_by_status ACTIVE": {"status": "ACTIVE"},
            "get_hypervisor_list": {},
            "get_flavor_list": {},
        }
        print(f"\ninstance reads at {N} instances through the MCP client, ms p50/p99")
        for label, args in calls.items():
            tool = label.split(" ")[0]
            p50, p99 = await _time(lambda tool=tool, args=args: client.call_tool(tool, args), REPEAT // 2)
            print(f"  {label:40s} {p50:6.1f} {p99:6.1f}")
