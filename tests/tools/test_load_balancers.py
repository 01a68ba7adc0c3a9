"""Octavia tools through the MCP in-process client: get_load_balancers, get_load_balancer (the tree
within the answer budget), their issues in get_cluster_status, get_resource and the resource template;
and a cloud without Octavia."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from app.services.budget import DEFAULT_BUDGET, HARD_BUDGET
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.tools.conftest import call_full as call, call_error, make_settings, mcp_client, sync_everything
from tests.tools.test_answers import answer_bytes


def _lb(sim: Any, name: str) -> dict[str, Any]:
    return next(x for x in sim.state.values("lb_loadbalancers") if x["name"] == name)


async def test_list_with_status_mix_problems_and_filters(synced: Any) -> None:
    sim = synced.sim
    async with mcp_client(synced.settings, sim) as client:
        got = await call(client, "get_load_balancers")
        assert got["page"]["total"] == sim.state.count("lb_loadbalancers") >= 4
        assert got["provisioning_counts"]["ERROR"] == 1 and got["operating_counts"]["DEGRADED"] == 1
        assert "lb-0001 (ACTIVE/DEGRADED)" in got["summary"] and "lb-0002 (ERROR/ERROR)" in got["summary"]
        by_name = {x["name"]: x for x in got["load_balancers"]}
        degraded = _lb(sim, "lb-0001")
        assert by_name["lb-0001"]["members_down"] == 1 and by_name["lb-0001"]["vip_address"] == degraded["vip_address"]
        assert by_name["lb-0001"]["listeners"] == len(degraded["listeners"]) and by_name["lb-0003"]["members_down"] == 0
        assert by_name["lb-0001"]["project_name"] == sim.state.get("projects", degraded["project_id"])["name"]

        errors = await call(client, "get_load_balancers", status="ERROR")
        assert [x["name"] for x in errors["load_balancers"]] == ["lb-0002"]
        deg = await call(client, "get_load_balancers", operating_status="DEGRADED")
        assert [x["name"] for x in deg["load_balancers"]] == ["lb-0001"]
        project = sim.state.get("projects", degraded["project_id"])["name"]
        mine = await call(client, "get_load_balancers", project=project)
        assert {x["name"] for x in mine["load_balancers"]} == {
            x["name"] for x in sim.state.values("lb_loadbalancers") if x["project_id"] == degraded["project_id"]}
        by_vip = await call(client, "get_load_balancers", name=degraded["vip_address"])
        assert [x["id"] for x in by_vip["load_balancers"]] == [degraded["id"]]
        page = await call(client, "get_load_balancers", limit=1, offset=1)
        assert page["page"]["returned"] == 1 and page["load_balancers"][0]["name"] == sorted(by_name)[1]
        raw = await client.call_tool("get_load_balancers", {})
        assert answer_bytes(raw) <= DEFAULT_BUDGET and raw.content[0].text.startswith(got["summary"][:40])
        assert "BROKEN" in await call_error(client, "get_load_balancers", status="BROKEN")


async def test_tree_of_a_degraded_load_balancer(synced: Any) -> None:
    sim = synced.sim
    lb = _lb(sim, "lb-0001")
    pool = sim.state.get("lb_pools", lb["pools"][0]["id"])
    bad = next(m for m in sim.state.values("lb_members") if m["_pool"] == pool["id"] and m["operating_status"] == "ERROR")
    async with mcp_client(synced.settings, sim) as client:
        for key in (lb["name"], lb["id"]):
            tree = await call(client, "get_load_balancer", name_or_id=key)
            assert tree["load_balancer"]["id"] == lb["id"]
        assert tree["summary"].startswith(f"Load balancer lb-0001 ({lb['id']}): ACTIVE/DEGRADED")
        listener = tree["listeners"][0]
        assert listener["protocol"] == "HTTP" and listener["operating_status"] == "DEGRADED"
        dp = listener["default_pool"]
        assert dp["id"] == pool["id"] and dp["members_total"] == len(pool["members"]) and dp["members_down"] == 1
        assert dp["members"][0]["address"] == bad["address"] and dp["members"][0]["down"]  # down members first
        assert dp["health_monitor"]["id"] == pool["healthmonitor_id"] and dp["health_monitor"]["type"] == "HTTP"
        assert any(bad["address"] in p and "members down" in p for p in tree["problems"])
        assert {a["role"] for a in tree["amphorae"]} <= {"STANDALONE", "MASTER", "BACKUP"} and tree["amphorae"]
        assert tree["other_pools"] == [] and not tree["members_clipped"]

        failed = await call(client, "get_load_balancer", name_or_id="lb-0002")
        assert failed["problems"][0].startswith("Load balancer provisioning_status ERROR")
        assert any(a["status"] == "ERROR" for a in failed["amphorae"])
        disabled = await call(client, "get_load_balancer", name_or_id="lb-0003")
        off = [m for x in disabled["listeners"] for m in x["default_pool"]["members"] if m["operating_status"] == "OFFLINE"]
        assert off and not off[0]["down"] and disabled["problems"] == []  # disabled by its operator: no problem

        missing = await call_error(client, "get_load_balancer", name_or_id="lb-00")
        assert "No load balancer with ID or name" in missing and "lb-0001" in missing


async def test_cluster_status_lists_load_balancer_issues(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        got = await call(client, "get_cluster_status", include_rules=True)
    issues = {i["code"]: i for i in got["issues"]}
    lbi = issues["load_balancers_error"]
    assert lbi["count"] == 2 and {i["name"] for i in lbi["items"]} == {"lb-0001", "lb-0002"}
    assert lbi["deduction"] == 6
    down = issues["lb_members_down"]
    assert down["count"] == 1 and "ERROR in pool" in down["items"][0]["detail"] and "lb-0001" in down["items"][0]["detail"]
    assert {"load_balancers_error", "lb_members_down"} <= {r["code"] for r in got["score_rules"]}


async def test_get_resource_and_resource_template(synced: Any) -> None:
    lb = _lb(synced.sim, "lb-0000")
    async with mcp_client(synced.settings, synced.sim) as client:
        got = await call(client, "get_resource", kind="load_balancers", id_or_name="lb-0000")
        assert got["id"] == lb["id"] and got["raw"]["vip_address"] == lb["vip_address"]
        pool = await call(client, "get_resource", kind="lb_pools", id_or_name=lb["pools"][0]["id"])
        assert len(pool["raw"]["member_details"]["members"]) == len(lb and synced.sim.state.get(
            "lb_pools", lb["pools"][0]["id"])["members"])
        body = json.loads((await client.read_resource("openstack://test/load-balancers/lb-0000")).contents[0].text)
        assert body["id"] == lb["id"] and body["name"] == "lb-0000"


async def test_big_pool_fits_the_budget(tmp_path: Path) -> None:
    server = SimulatorServer(Simulator(servers=20, seed=3, transition_seconds=0.2))
    sim = server.start()
    try:
        lb = _lb(sim, "lb-0000")
        pool = sim.state.get("lb_pools", lb["pools"][0]["id"])
        template = sim.state.get("lb_members", pool["members"][0]["id"])
        for i in range(600):  # a big pool: 600 members, every 7th down
            m = {**template, "id": f"m-{i:04d}", "name": f"web-{i:04d}", "address": f"10.9.{i // 250}.{i % 250 + 1}",
                 "operating_status": "ERROR" if i % 7 == 0 else "ONLINE"}
            sim.state.add("lb_members", m)
            pool["members"].append({"id": m["id"]})
        settings = make_settings(tmp_path / "big.db")
        await sync_everything(settings, sim)
        async with mcp_client(settings, sim) as client:
            small = await client.call_tool("get_load_balancer", {"name_or_id": "lb-0000"})
            big = await client.call_tool("get_load_balancer", {"name_or_id": "lb-0000", "limit": 200})
        assert not small.is_error and not big.is_error
        assert answer_bytes(small) <= DEFAULT_BUDGET and answer_bytes(big) <= HARD_BUDGET
        for r, most in ((small, 20), (big, 200)):
            dp = r.structured_content["listeners"][0]["default_pool"]
            assert r.structured_content["members_clipped"] and dp["members_total"] == len(pool["members"])
            shown = [m["down"] for m in dp["members"]]
            assert dp["members_down"] == 86 and 1 <= len(shown) <= most
            assert shown == sorted(shown, reverse=True) and all(shown[:86])  # the down ones first
    finally:
        server.stop()


async def test_cloud_without_octavia(tmp_path: Path) -> None:
    sim = Simulator(servers=20, seed=5, transition_seconds=0.2)
    sim.disabled_services.add("load-balancer")
    server = SimulatorServer(sim)
    server.start()
    try:
        settings = make_settings(tmp_path / "no-lb.db")
        results = await sync_everything(settings, sim)
        assert results["load_balancers"].status == "unavailable"
        async with mcp_client(settings, sim) as client:
            status = await call(client, "get_cluster_status")
            lbs = await call(client, "get_load_balancers")
        assert not {"load_balancers_error", "lb_members_down"} & {i["code"] for i in status["issues"]}
        assert not any("load_balancers" in k["kinds"] for k in status["incomplete"])
        assert lbs["page"]["total"] == 0
        assert {k["kind"]: k["status"] for k in lbs["snapshot"]["kinds"]}["load_balancers"] == "unavailable"
    finally:
        server.stop()
        await asyncio.sleep(0)
