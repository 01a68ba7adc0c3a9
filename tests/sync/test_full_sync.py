"""Full sync of every kind against the simulator over HTTP, for each release profile."""

from __future__ import annotations

import json

import pytest

from app.simulator.releases import get_release
from tests.sync.helpers import count_rows, query

RELEASES = ["train", "wallaby", "yoga", "epoxy"]
# Kinds whose bodies carry heartbeats/uptime (service updated_at, agent heartbeat_timestamp, AZ host
# services, hypervisor uptime): every listing really is a change for them.
HEARTBEAT_KINDS = {"availability_zones", "compute_services", "hypervisors", "network_agents", "volume_services"}


@pytest.mark.parametrize("release", RELEASES)
async def test_full_sync_of_every_kind(make_sim, make_stack, db_url, release) -> None:
    sim = make_sim(servers=40, release=release)
    st = await make_stack(sim, page_size=25)
    results = await st.service.sync_all()
    assert set(results) == set(st.service.specs)
    bad = {k: (r.status, r.error) for k, r in results.items() if r.status != "succeeded"}
    assert not bad
    for kind, r in results.items():
        table = st.service.spec(kind).table.name
        assert count_rows(db_url, table, "deleted_at IS NULL") == r.seen == r.added, kind
        assert r.tombstoned == 0 and r.changed == 0
    assert results["servers"].seen == sim.state.count("servers")
    runs = query(db_url, "SELECT kind, mode, status, finished_at, duration_s FROM sync_runs")
    assert len(runs) == len(results) and all(m == "full" and s == "succeeded" and f and d is not None
                                             for _, m, s, f, d in runs)

    specs = st.service.specs
    if "hypervisors" in specs:
        raws = [json.loads(r[0]) for r in query(db_url, "SELECT raw FROM hypervisors")]
        assert raws
        has_capacity = [("vcpus" in r and "memory_mb" in r) for r in raws]
        if get_release(release).hypervisor_capacity_fields:
            assert all(has_capacity), "hypervisor capacity fields must be present below compute 2.88"
        else:
            assert not any(has_capacity), "hypervisor capacity fields are gone at 2.88+"
    for kind, spec in specs.items():
        if spec.listing.enrich:  # Placement inventories/usages and the like
            raws = [json.loads(r[0]) for r in query(db_url, f"SELECT raw FROM {spec.table.name}")]
            assert raws, kind
            for key in spec.listing.enrich:
                assert all(r.get(key) for r in raws), f"{kind}.{key} missing"


async def test_second_full_sync_of_an_unchanged_cloud_changes_nothing(make_sim, make_stack) -> None:
    sim = make_sim(servers=30)
    sim.advance(3600)  # settle every pending transition
    st = await make_stack(sim, page_size=8)
    first = await st.service.sync_all()
    second = await st.service.sync_all()
    for kind, r in second.items():
        assert r.status == "succeeded", (kind, r.error)
        assert (r.added, r.tombstoned) == (0, 0), kind
        assert r.changed == 0 or kind in HEARTBEAT_KINDS, kind
        assert r.seen == first[kind].seen
