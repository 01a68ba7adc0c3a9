"""The ``project_quotas`` kind: Keystone's projects enriched with Nova, Neutron and Cinder quotas per
project (sub-requests on three other services), synced against the simulator's quota model; a refused
service is recorded as unavailable, never as zeros; limits and usage that move reach the snapshot."""

from __future__ import annotations

from typing import Any

from app.simulator.quotas import cinder_usage, neutron_usage, nova_usage
from tests.sync.helpers import count_rows, query

KEY = {("compute", "instances"), ("compute", "cores"), ("compute", "ram_mb"), ("network", "floating_ips"),
       ("network", "ports"), ("network", "networks"), ("volume", "volumes"), ("volume", "gigabytes"),
       ("volume", "snapshots")}


def items(db_url: str, pid: str) -> dict[tuple[str, str], Any]:
    return {(r.service, r.resource): r for r in query(
        db_url, "SELECT service, resource, quota_limit, in_use, reserved, used_pct, key_resource "
                "FROM project_quota_items WHERE cloud='test' AND project_quota_id=:p", p=pid)}


def project_row(db_url: str, pid: str) -> Any:
    (row,) = query(db_url, "SELECT name, max_used_pct, tightest, tightest_in_use, tightest_limit, at_or_over, "
                           "unavailable, deleted_at FROM project_quotas WHERE cloud='test' AND id=:p", p=pid)
    return row


async def test_every_project_with_its_three_services(make_sim: Any, make_stack: Any, db_url: str) -> None:
    sim = make_sim(servers=80, seed=11)
    st = await make_stack(sim)
    result = await st.service.full_sync("project_quotas")
    assert result.ok and result.error is None
    projects = {p["id"]: p for p in sim.state.values("projects")}
    assert count_rows(db_url, "project_quotas", "deleted_at IS NULL") == len(projects)
    for pid, p in projects.items():
        got = items(db_url, pid)
        assert KEY <= set(got), p["name"]
        assert {k for k, r in got.items() if r.key_resource} == KEY
        nova, neutron, cinder = nova_usage(sim, pid), neutron_usage(sim, pid), cinder_usage(sim, pid)
        limits = sim.quota_limits
        for (service, res), upstream, usage in (
            (("compute", "instances"), "instances", nova), (("compute", "cores"), "cores", nova),
            (("compute", "ram_mb"), "ram", nova), (("network", "ports"), "port", neutron),
            (("network", "floating_ips"), "floatingip", neutron), (("volume", "gigabytes"), "gigabytes", cinder),
        ):
            r = got[(service, res)]
            assert r.in_use == usage[upstream], (p["name"], service, res)
            assert r.quota_limit == limits[(service, pid)][upstream]
            assert r.used_pct == (round(100.0 * r.in_use / r.quota_limit, 1) if r.quota_limit > 0 else None)
        row = project_row(db_url, pid)
        limited = [r for r in got.values() if r.key_resource and r.used_pct is not None]
        assert row.name == p["name"] and row.unavailable is None
        assert row.max_used_pct == max(r.used_pct for r in limited)
        top = got[tuple(row.tightest.split("/"))]
        assert (top.used_pct, top.in_use, top.quota_limit) == (row.max_used_pct, row.tightest_in_use,
                                                               row.tightest_limit)
        assert row.at_or_over == sum(1 for r in limited if r.used_pct >= 100)
    # unlimited is never a percentage, and never what runs out first
    admin = next(pid for pid, p in projects.items() if p["name"] == "admin")
    for res in ("instances", "cores", "ram_mb"):
        assert items(db_url, admin)[("compute", res)].quota_limit == -1
        assert items(db_url, admin)[("compute", res)].used_pct is None
    assert not project_row(db_url, admin).tightest.startswith("compute/")


async def test_a_refused_service_is_unavailable_not_zero(make_sim: Any, make_stack: Any, db_url: str) -> None:
    sim = make_sim(servers=30, seed=5)
    st = await make_stack(sim)
    sim.inject(r"/quotas/.*/details", status=403)  # Neutron refuses every project's quotas
    result = await st.service.full_sync("project_quotas")
    assert result.ok
    for pid in (p["id"] for p in sim.state.values("projects")):
        row = project_row(db_url, pid)
        assert row.unavailable == "network" and row.max_used_pct is not None
        assert {s for s, _ in items(db_url, pid)} == {"compute", "volume"}
    (raw,) = query(db_url, "SELECT raw FROM project_quotas WHERE cloud='test' LIMIT 1")
    assert "403" in str(raw[0]) and "network refused it" in str(raw[0])

    sim.clear_faults()  # Neutron answers again: the rows come back, the mark goes
    assert (await st.service.full_sync("project_quotas")).ok
    assert count_rows(db_url, "project_quotas", "unavailable IS NOT NULL") == 0
    assert count_rows(db_url, "project_quota_items", "service = 'network'") > 0


async def test_limits_and_usage_that_move_reach_the_snapshot(make_sim: Any, make_stack: Any, db_url: str) -> None:
    sim = make_sim(servers=60, seed=3)
    st = await make_stack(sim)
    assert (await st.service.full_sync("project_quotas")).ok
    web = next(p for p in sim.state.values("projects") if p["name"] == "web")
    cores = nova_usage(sim, web["id"])["cores"]
    assert cores > 0
    sim.quota_limits[("compute", web["id"])]["cores"] = cores  # an admin lowers web's cores quota to its use
    assert (await st.service.full_sync("project_quotas")).ok
    row = project_row(db_url, web["id"])
    assert (row.max_used_pct, row.tightest, row.tightest_in_use, row.tightest_limit, row.at_or_over) == (
        100.0, "compute/cores", cores, cores, 1)
    top = query(db_url, "SELECT id FROM project_quotas WHERE cloud='test' AND deleted_at IS NULL "
                        "AND max_used_pct IS NOT NULL ORDER BY max_used_pct DESC, id LIMIT 1")
    assert top[0].id == web["id"] or project_row(db_url, top[0].id).max_used_pct >= 100.0
    changes = query(db_url, "SELECT change, after FROM snapshot_changes WHERE kind='project_quotas' "
                            "AND resource_id=:p", p=web["id"])
    assert [c.change for c in changes] == ["changed"] and "max_used_pct" in str(changes[0].after)

    gone = next(p for p in sim.state.values("projects") if p["name"] != "admin" and p["id"] != web["id"])
    sim.state.remove("projects", gone["id"])
    assert (await st.service.full_sync("project_quotas")).ok
    assert project_row(db_url, gone["id"]).deleted_at is not None
    assert items(db_url, gone["id"]) == {}
