"""Monitoring tools (get_cluster_status, get_service_status, monitor_resources) against simulated fleets:
every finding is compared with the simulator's own state."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.services.health import RULES
from app.simulator.keystone import catalog
from app.simulator.nova_common import host_usage
from app.simulator.nova_hosts import service_is_up
from app.simulator.placement import RATIOS, RESERVED, _usage, inventories_of
from tests.tools.conftest import call, call_error, make_settings, mcp_client

ROOT = Path(__file__).resolve().parents[2]


async def sync_kinds_except(settings: Any, sim: Any, skip: set[str]) -> None:
    """Migrate a fresh database and fully sync every kind but ``skip``."""
    from app.context import open_app_context
    from app.resources.registry import all_specs

    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        results = await ctx.sync.sync_all([k for k in all_specs() if k not in skip])
    assert all(getattr(r, "status", "succeeded") == "succeeded" for r in results.values())


def issue(result: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [i for i in result["issues"] if i["code"] == code]


def names(issues: list[dict[str, Any]]) -> set[str]:
    return {it["name"] for i in issues for it in i["items"]}


def placement_expectations(sim: Any) -> dict[str, dict[str, float]]:
    """Per hypervisor hostname: capacity, use and pressure as documented (Placement source)."""
    out = {}
    for h in sim.state.values("hypervisors"):
        inv, use = inventories_of(h), _usage(sim, h)
        cap = {rc: (i["total"] - i["reserved"]) * i["allocation_ratio"] for rc, i in inv.items()}
        pcts = [100.0 * use[rc] / cap[rc] for rc in cap]
        out[h["hypervisor_hostname"]] = {"cap": cap, "use": use, "pressure": max(pcts)}
    return out


async def test_cluster_status_finds_every_planted_problem(synced: Any) -> None:
    st = synced.sim.state
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await call(client, "get_cluster_status")
    assert r["unknown_kinds"] == [] and r["snapshot"]["missing"] == []

    down_computes = {s["host"] for s in st.values("compute_services") if not service_is_up(synced.sim, s)}
    assert down_computes and names(issue(r, "compute_service_down")) == down_computes
    assert any(re.match(rf"{len(down_computes)} nova-compute services down: ", i["summary"])
               for i in issue(r, "compute_service_down"))
    disabled = {f"{s['host']}.sim.local" for s in st.values("compute_services")
                if s["binary"] == "nova-compute" and s["status"] == "disabled"}
    assert disabled and names(issue(r, "hypervisor_disabled")) == disabled
    assert names(issue(r, "hypervisor_down")) == {f"{h}.sim.local" for h in down_computes}
    dead_agents = {a["host"] for a in st.values("agents") if not a["alive"]}
    assert dead_agents and names(issue(r, "network_agent_down")) == dead_agents
    cinder_down = {s["host"] for s in st.values("volume_services") if s["state"] == "down"}
    assert cinder_down and names(issue(r, "volume_service_down")) == cinder_down

    exp = placement_expectations(synced.sim)
    full = {h for h, e in exp.items() if e["pressure"] >= 90}
    nearly_full = next(iter(st.values("hypervisors")))["hypervisor_hostname"]
    assert nearly_full in full and names(issue(r, "hypervisor_full")) == full

    n_servers = st.count("servers")
    errors = [s for s in st.values("servers") if s["status"] == "ERROR"]
    (err,) = issue(r, "instances_error")
    assert err["count"] == len(errors) and err["items_truncated"] == (len(errors) > 10)
    assert names([err]) <= {s["name"] for s in errors}
    assert err["deduction"] == min(20, math.ceil(100 * len(errors) / n_servers))
    failed = {s["stack_name"] for s in st.values("stacks") if s["stack_status"].endswith("_FAILED")}
    assert "CREATE_FAILED" in {s["stack_status"] for s in st.values("stacks")}
    assert names(issue(r, "stacks_failed")) == failed
    unassoc = [f for f in st.values("floatingips") if not f["port_id"]]
    (fi,) = issue(r, "floating_ips_unassociated")
    assert fi["count"] == len(unassoc) == r["network"]["floating_ips_unassociated"] and fi["deduction"] == 0
    orphans = [v for v in st.values("volumes") if v["status"] == "available" and not v.get("attachments")]
    assert orphans and r["storage"]["orphaned_volumes"] == len(orphans) == issue(r, "volumes_orphaned")[0]["count"]
    stuck = [s for s in st.values("servers") if s["OS-EXT-STS:task_state"]]
    assert issue(r, "instances_stuck")[0]["count"] == len(stuck)

    # the score follows the documented rules: 100 minus the deductions, each rule capped
    spent = Counter()
    for i in r["issues"]:
        spent[i["code"]] += i["deduction"]
        assert i["severity"] == RULES[i["code"]].severity
    for code, pts in spent.items():
        assert pts <= RULES[code].cap
    assert spent["compute_service_down"] == min(30, 10 * len(down_computes))
    assert spent["hypervisor_full"] == min(15, 3 * len(full))
    assert r["health_score"] == max(0, min(100, round(100 - sum(spent.values())))) < 100

    # counts by GROUP BY equal the simulator's
    assert r["instances"]["total"] == n_servers
    assert r["instances"]["by_status"] == dict(Counter(s["status"] for s in st.values("servers")))
    by_az = Counter(s["OS-EXT-AZ:availability_zone"] or "(none)" for s in st.values("servers"))
    assert r["instances"]["by_availability_zone"] == dict(by_az)
    assert r["storage"]["volumes_by_status"] == dict(Counter(v["status"] for v in st.values("volumes")))
    assert r["storage"]["snapshots"] == st.count("snapshots")
    assert r["storage"]["volume_types"] == st.count("volume_types")
    assert r["network"]["networks"] == st.count("networks") and r["network"]["routers"] == st.count("routers")
    assert r["network"]["floating_ips"] == st.count("floatingips")
    assert r["stacks"]["by_status"] == dict(Counter(s["stack_status"] for s in st.values("stacks")))
    hyp = r["hypervisors"]
    assert (hyp["total"], hyp["down"], hyp["disabled"]) == (st.count("hypervisors"), len(down_computes), len(disabled))
    totals = hyp["capacity"]
    for key, rc in (("vcpus", "VCPU"), ("memory_mb", "MEMORY_MB"), ("disk_gb", "DISK_GB")):
        assert totals[key]["capacity"] == pytest.approx(sum(e["cap"][rc] for e in exp.values()))
        assert totals[key]["used"] == sum(e["use"][rc] for e in exp.values())
        assert totals[key]["allocation_ratios"] == [{"allocation_ratio": RATIOS[rc], "providers": len(exp)}]
    assert totals["capacity_sources"] == {"placement": len(exp), "hypervisor": 0, "unknown": 0}


async def test_health_rules_are_documented() -> None:
    doc = (ROOT / "docs" / "health.md").read_text()
    for rule in RULES.values():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{rule.code}` |")), None)
        assert row is not None, f"{rule.code} missing from docs/health.md"
        assert f"| {rule.points:g} |" in row and f"| {rule.cap:g} |" in row, row


async def test_service_status_lists_services_endpoints_and_down(synced: Any) -> None:
    sim, st = synced.sim, synced.sim.state
    async with mcp_client(synced.settings, sim) as client:
        r = await call(client, "get_service_status", limit=1000, include_endpoints=True)
        default = await call(client, "get_service_status")
        problems = await call(client, "get_service_status", only_problems=True)
        page1 = await call(client, "get_service_status", limit=7)
        page2 = await call(client, "get_service_status", limit=7, offset=7)
        net = await call(client, "get_service_status", service="network")
        bad = await call_error(client, "get_service_status", limit=0)
    n = st.count("compute_services") + st.count("agents") + st.count("volume_services")
    assert r["total"] == r["returned"] == n and not r["has_more"]
    # the default page: the first 30 (down first), or fewer with the next offset to stay within the budget
    assert default["total"] == n and default["limit"] == 30 and default["endpoints"] == []
    assert [s["id"] for s in default["services"]] == [s["id"] for s in r["services"][: default["returned"]]]
    assert default["returned"] == min(30, n) or (default["truncated"] and default["next_offset"] == default["returned"])
    down = ({("compute", s["host"]) for s in st.values("compute_services") if not service_is_up(sim, s)}
            | {("network", a["host"]) for a in st.values("agents") if not a["alive"]}
            | {("block_storage", s["host"]) for s in st.values("volume_services") if s["state"] == "down"})
    assert {(d["service"], d["host"]) for d in r["down"]} == down and r["down_total"] == len(down)
    assert [s["state"] for s in r["services"][: len(down)]] == ["down"] * len(down)
    disabled = [s for s in st.values("compute_services") if s["status"] == "disabled"]
    assert problems["total"] == len(down) + len(disabled)
    assert {s["disabled_reason"] for s in problems["services"] if s["status"] == "disabled"} == \
        {s["disabled_reason"] for s in disabled}
    ids1, ids2 = {s["id"] for s in page1["services"]}, {s["id"] for s in page2["services"]}
    assert len(ids1) == len(ids2) == 7 and not ids1 & ids2 and page1["has_more"]
    assert net["total"] == st.count("agents") and {s["service"] for s in net["services"]} == {"network"}
    assert "limit" in bad
    assert r["catalog_error"] is None
    assert {e["service_type"] for e in r["endpoints"]} == {s["type"] for s in catalog(sim, None)}
    assert {e["interface"] for e in r["endpoints"]} >= {"public"}


async def test_monitor_resources_capacity_thresholds_and_top(synced: Any) -> None:
    sim, st = synced.sim, synced.sim.state
    exp = placement_expectations(sim)
    async with mcp_client(synced.settings, sim) as client:
        r = await call(client, "monitor_resources", limit=200)
        default = await call(client, "monitor_resources")
        pages = [await call(client, "monitor_resources", limit=3, offset=o) for o in range(0, len(exp), 3)]
        custom = await call(client, "monitor_resources", threshold_warn=50, threshold_crit=100)
        assert "threshold" in await call_error(client, "monitor_resources", threshold_warn=95, threshold_crit=90)
    assert r["total"] == len(exp) == r["returned"]
    assert default["limit"] == 5 and default["hypervisors"] == r["hypervisors"][:5] and default["summary"]
    seen = [h["hypervisor_hostname"] for p in pages for h in p["hypervisors"]]
    assert seen == sorted(exp) and not pages[-1]["has_more"]
    for h in r["hypervisors"]:
        e = exp[h["hypervisor_hostname"]]
        assert h["capacity_source"] == "placement"
        assert h["memory_mb"]["capacity"] == pytest.approx(e["cap"]["MEMORY_MB"])
        assert h["memory_mb"]["used"] == e["use"]["MEMORY_MB"]
        assert h["vcpus"]["allocation_ratio"] == RATIOS["VCPU"]
        assert h["memory_mb"]["physical"] == next(x for x in st.values("hypervisors")
                                                  if x["hypervisor_hostname"] == h["hypervisor_hostname"])["memory_mb"] - RESERVED["MEMORY_MB"]
        assert h["pressure_pct"] == pytest.approx(e["pressure"], abs=0.06)
    for name, thr, res in (("crit", 90, r), ("warn", 80, r), ("crit", 100, custom), ("warn", 50, custom)):
        want = {h for h, e in exp.items() if round(e["pressure"], 1) >= thr}
        assert {h["hypervisor_hostname"] for h in res[f"over_{name}"]} == want and res[f"over_{name}_total"] == len(want)
    nearly_full = next(iter(st.values("hypervisors")))["hypervisor_hostname"]
    assert any(x.startswith("RAM") and "of capacity" in x for x in
               next(h for h in r["over_crit"] if h["hypervisor_hostname"] == nearly_full)["hot"])
    pressures = [h["pressure_pct"] for h in r["top_hypervisors"]]
    assert pressures == sorted(pressures, reverse=True)
    # top projects: flavors of live, non-offloaded servers per project
    flavors = {f["id"]: f for f in st.values("flavors")}
    per_project: Counter[str] = Counter()
    for s in st.values("servers"):
        if s["status"] != "SHELVED_OFFLOADED":
            per_project[s["tenant_id"]] += flavors[s["_flavor"]]["vcpus"]
    top = r["top_projects_by_vcpus"]
    assert [p["vcpus"] for p in top] == sorted(per_project.values(), reverse=True)[: len(top)]
    assert top[0]["project_name"] == next(p["name"] for p in st.values("projects") if p["id"] == top[0]["project_id"])


async def test_train_capacity_from_hypervisor_fields(make_sim: Any, tmp_path: Path) -> None:
    """Before compute 2.88, without Placement data, capacity comes from the hypervisor columns."""
    sim = make_sim(servers=80, release="train", seed=3)
    settings = make_settings(tmp_path / "train.db")
    await sync_kinds_except(settings, sim, {"resource_providers"})
    usage = host_usage(sim)
    async with mcp_client(settings, sim) as client:
        r = await call(client, "monitor_resources")
        cs = await call(client, "get_cluster_status")
    assert {h["capacity_source"] for h in r["hypervisors"]} == {"hypervisor"}
    for h in r["hypervisors"]:
        rec = next(x for x in sim.state.values("hypervisors") if x["hypervisor_hostname"] == h["hypervisor_hostname"])
        u = usage.get(rec["host"], (0, 0, 0, 0, 0))
        assert h["vcpus"]["capacity"] == rec["vcpus"] and h["vcpus"]["used"] == u[0]
        assert h["memory_mb"]["capacity"] == rec["memory_mb"] and h["memory_mb"]["used"] == u[1] + 512
        assert h["disk_gb"]["capacity"] == rec["local_gb"] and h["vcpus"]["allocation_ratio"] is None
    assert r["totals"]["memory_mb"]["capacity"] == sum(x["memory_mb"] for x in sim.state.values("hypervisors"))
    assert r["totals"]["capacity_sources"]["hypervisor"] == sim.state.count("hypervisors")
    assert "resource_providers" in r["snapshot"]["missing"]
    assert "resource_providers" in cs["unknown_kinds"]
    assert issue(cs, "snapshot_missing")[0]["items"][0]["name"] == "resource_providers"


async def test_unsynced_kinds_are_unknown_not_zero(make_sim: Any, tmp_path: Path) -> None:
    """Volumes never synced: their counts are null; Placement never synced on a 2.88+ cloud: capacity unknown."""
    sim = make_sim(servers=40, seed=5)
    settings = make_settings(tmp_path / "partial.db")
    skip = {"volumes", "resource_providers"}
    await sync_kinds_except(settings, sim, skip)
    async with mcp_client(settings, sim) as client:
        r = await call(client, "get_cluster_status")
        m = await call(client, "monitor_resources")
    assert set(r["unknown_kinds"]) == skip and set(r["snapshot"]["missing"]) == skip
    s = r["storage"]
    assert s["volumes"] is None and s["volumes_by_status"] is None and s["orphaned_volumes"] is None
    assert s["snapshots"] == sim.state.count("snapshots") and s["volume_types"] == sim.state.count("volume_types")
    assert not issue(r, "volumes_error") and not issue(r, "volumes_orphaned")
    (miss,) = issue(r, "snapshot_missing")
    assert names([miss]) == skip and miss["deduction"] == 10
    cap = r["hypervisors"]["capacity"]
    assert cap["capacity_sources"]["unknown"] == sim.state.count("hypervisors") and cap["note"]
    assert cap["memory_mb"]["capacity"] is None and cap["memory_mb"]["used"] is None
    assert {h["capacity_source"] for h in m["hypervisors"]} == {None}
    assert all(h["memory_mb"]["capacity"] is None and h["pressure_pct"] is None for h in m["hypervisors"])
    assert m["over_crit_total"] == 0 and not issue(r, "hypervisor_full")


# ---------------------------------------------------------------------------------------------
# Truthful degraded states: until a kind has synced, no total or score is presented as a fact.


async def _sync_with(settings: Any, **connect: Any) -> dict[str, Any]:
    from app.context import open_app_context

    async with open_app_context(settings, **connect) as ctx:
        return await ctx.sync.sync_all()


async def _reports(settings: Any, **connect: Any) -> tuple[dict[str, Any], ...]:
    from mcp import Client

    from app.context import open_app_context
    from app.server import build_server

    mcp, _ = build_server(settings, context_factory=lambda s: open_app_context(s, **connect))
    async with Client(mcp) as client:
        return (await call(client, "get_cluster_status"), await call(client, "monitor_resources"),
                await call(client, "get_service_status"))


def _all_counts_null(cs: dict[str, Any]) -> None:
    assert cs["hypervisors"] is None and cs["instances"] is None and cs["stacks"] is None and cs["services"] is None
    assert set(cs["network"].values()) == {None} and set(cs["storage"].values()) == {None}


async def test_wrong_password_answers_incomplete_with_the_keystone_error(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=10, seed=11)
    settings = make_settings(tmp_path / "pw.db")
    connect = {**sim.connect_kwargs(), "password": "not-the-password"}
    results = await _sync_with(settings, **connect)
    assert not any(r.ok for r in results.values())
    cs, mon, svc = await _reports(settings, **connect)
    assert cs["complete"] is False and cs["health_score"] is None
    _all_counts_null(cs)
    (group,) = cs["incomplete"]
    assert group["state"] == "failed" and set(group["kinds"]) == set(cs["unknown_kinds"]) and len(group["kinds"]) == 14
    assert "answered 401 (Unauthorized) for user admin" in group["reason"] and "credentials" in cs["coverage"]
    assert "no health score" in cs["coverage"] and len(cs["coverage"]) < 400
    assert "not-the-password" not in str(cs)
    for report in (mon, svc):
        assert report["complete"] is False and report["incomplete"][0]["state"] == "failed"
        assert "answered 401" in report["coverage"]
    assert mon["totals"]["hypervisors"] == 0 and mon["total"] == 0  # nothing known, and it says so


async def test_unreachable_auth_url_answers_incomplete_with_the_connection_error(make_sim: Any,
                                                                                tmp_path: Path) -> None:
    from tests.transport.test_transports import free_port

    sim = make_sim(servers=10, seed=12)
    settings = make_settings(tmp_path / "url.db")
    connect = {**sim.connect_kwargs(), "auth_url": f"http://127.0.0.1:{free_port()}/identity/v3"}
    await _sync_with(settings, **connect)
    cs, _mon, _svc = await _reports(settings, **connect)
    assert cs["complete"] is False and cs["health_score"] is None
    _all_counts_null(cs)
    (group,) = cs["incomplete"]
    assert group["state"] == "failed" and "Unable to establish connection" in group["reason"], group
    assert len(group["reason"]) <= 240


async def test_first_sync_part_way_gives_partial_totals_and_no_score(make_sim: Any, tmp_path: Path) -> None:
    """Servers: the first listing wrote one page, then failed. Hypervisors: not synced yet. The report
    shows the rows so far as partial, names why, and gives no score; once both sync it is complete."""
    from app.resources.registry import all_specs
    from tests.faults.helpers import FromNth

    sim = make_sim(servers=120, seed=13)
    settings = make_settings(tmp_path / "first.db", page_size=50)
    await sync_kinds_except(settings, sim, {"servers", "hypervisors"})
    sim.faults.append(FromNth(r"/servers/detail", nth=2, status=500))
    assert not (await _servers_once(settings, sim)).ok
    cs, mon, _ = await _reports(settings, **sim.connect_kwargs())
    assert cs["complete"] is False and cs["health_score"] is None
    assert cs["partial"] == ["instances"] and cs["instances"]["total"] == 50  # one page of 120
    assert cs["hypervisors"] is None and "hypervisors" in cs["unknown_kinds"]
    states = {g["state"]: g for g in cs["incomplete"]}
    assert states["failed"]["kinds"] == ["servers"] and "500" in states["failed"]["reason"]
    assert states["syncing"]["kinds"] == ["hypervisors"]
    assert "servers (50 so far)" in cs["coverage"] and "partial" in cs["coverage"]
    assert not issue(cs, "instances_error") and not issue(cs, "instances_stuck")  # no rule on partial data
    assert mon["complete"] is False
    sim.clear_faults()
    async with _ctx(settings, sim) as ctx:
        assert (await ctx.sync.full_sync("servers")).ok and (await ctx.sync.full_sync("hypervisors")).ok
    cs, mon, svc = await _reports(settings, **sim.connect_kwargs())
    assert cs["complete"] is True and cs["incomplete"] == [] and cs["partial"] == []
    assert isinstance(cs["health_score"], int) and cs["instances"]["total"] == sim.state.count("servers")
    assert cs["coverage"].startswith("Complete") and mon["complete"] and svc["complete"]
    assert set(all_specs()) >= set(cs["unknown_kinds"]) and cs["unknown_kinds"] == []


def _ctx(settings: Any, sim: Any) -> Any:
    from app.context import open_app_context

    return open_app_context(settings, **sim.connect_kwargs())


async def _servers_once(settings: Any, sim: Any) -> Any:
    async with _ctx(settings, sim) as ctx:
        return await ctx.sync.full_sync("servers")
