"""Scale: a 50,000-instance fleet starts in under 10 s and a full openstacksdk listing completes.

Run with ``python -m pytest tests/simulator/test_scale.py -m slow -s`` (prints the figures)."""

from __future__ import annotations

import resource
import sys
import time

import openstack
import pytest

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # openstacksdk warns once per Resource built; 50k warnings cost minutes
def test_fifty_thousand_instances() -> None:
    t0 = time.perf_counter()
    sim = Simulator(servers=50000)
    build = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert sim.state.count("servers") == 50000
    assert build < 10.0
    with SimulatorServer(sim):
        conn = openstack.connect(**sim.connect_kwargs())
        list(conn.compute.flavors())
        # server side alone: every page of /servers/detail (1000 per page) fetched raw
        t0 = time.perf_counter()
        url, pages, seen = "/servers/detail?all_tenants=1", 0, 0
        while url:
            body = conn.compute.get(url, microversion="2.100").json()
            seen += len(body["servers"])
            pages += 1
            nxt = body.get("servers_links")
            url = nxt[0]["href"].split("/v2.1", 1)[1] if nxt else None
        raw_s = time.perf_counter() - t0
        assert seen == 50000 and pages == 50
        # the full openstacksdk listing (dominated by openstacksdk building Resource objects)
        t0 = time.perf_counter()
        n = sum(1 for _ in conn.compute.servers(details=True, all_projects=True))
        sdk_s = time.perf_counter() - t0
        assert n == 50000
    print(f"\n50k fleet: build {build:.2f}s, peak RSS {rss_mb:.0f} MB; raw detail pages {raw_s:.1f}s "
          f"({pages} pages); openstacksdk servers(details=True, all_projects=True) {sdk_s:.1f}s", file=sys.stderr)
