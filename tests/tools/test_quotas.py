"""get_quota and get_quota_pressure through the MCP client: answered from the ``project_quotas`` kind
(synced from the simulator's Nova, Neutron and Cinder quota model), get_quota(live=true) from
OpenStack now; unlimited is never a percentage, a refused service is unavailable, never zero."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openstack
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import sqlite

from app.context import open_app_context
from app.services.quotas import top_projects
from app.simulator.quotas import nova_usage
from tests import backend
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything

ANSWER_BUDGET = 16 * 1024
KEY = {("compute", "instances"), ("compute", "cores"), ("compute", "ram_mb"), ("network", "floating_ips"),
       ("network", "ports"), ("network", "networks"), ("volume", "volumes"), ("volume", "gigabytes"),
       ("volume", "snapshots")}


def _size(result: dict[str, Any]) -> int:
    return len(json.dumps(result, default=str))


async def test_quota_of_a_project_from_the_snapshot_and_live(synced: Any) -> None:
    sim = synced.sim
    projects = {p["name"]: p["id"] for p in sim.state.values("projects")}
    web = projects["web"]
    async with mcp_client(synced.settings, sim) as client:
        got = await call(client, "get_quota", project="web")
        assert got["project_id"] == web and got["source"] == "snapshot" and not got["unavailable"]
        assert got["fetched_at"] and got["snapshot"]["kinds"][0]["kind"] == "project_quotas"
        res = {(r["service"], r["resource"]): r for r in got["resources"]}
        assert set(res) == KEY
        usage = nova_usage(sim, web)
        assert res[("compute", "instances")]["in_use"] == usage["instances"]
        assert res[("compute", "cores")]["in_use"] == usage["cores"]
        assert res[("compute", "cores")]["limit"] == sim.quota_limits[("compute", web)]["cores"]
        top = max((r for r in got["resources"] if r["used_pct"] is not None), key=lambda r: r["used_pct"])
        assert got["tightest"] == f"{top['service']}/{top['resource']}" and got["max_used_pct"] == top["used_pct"]
        assert got["resources"][0] == top and "closest to a limit" in got["summary"]
        assert "From the snapshot" in got["summary"]

        now = await call(client, "get_quota", project=web, live=True)
        assert now["source"] == "live" and "Read live" in now["summary"]
        assert now["resources"] == got["resources"] and now["tightest"] == got["tightest"]

        everything = await call(client, "get_quota", project=web, all_resources=True)
        names = {r["resource"] for r in everything["resources"]}
        assert {"key_pairs", "security_group", "backups"} <= names

        admin = await call(client, "get_quota", project="admin")
        compute = {r["resource"]: r for r in admin["resources"] if r["service"] == "compute"}
        assert compute["cores"]["limit"] == -1 and compute["cores"]["used_pct"] is None
        assert not (admin["tightest"] or "").startswith("compute/")

        assert "No live project" in await call_error(client, "get_quota", project="no-such-project")


async def test_the_projects_closest_to_their_limits(synced: Any) -> None:
    sim = synced.sim
    projects = list(sim.state.values("projects"))
    async with mcp_client(synced.settings, sim) as client:
        pressure = await call(client, "get_quota_pressure", limit=2)
        assert pressure["projects_total"] == len(projects)
        assert pressure["projects_ranked"] <= len(projects) and len(pressure["projects"]) == 2
        pcts = [p["max_used_pct"] for p in pressure["projects"]]
        assert pcts == sorted(pcts, reverse=True)
        lead = pressure["projects"][0]
        assert pressure["summary"].startswith(f"{len(projects)} project(s); closest to a limit: {lead['project_name']}")
        assert lead["headroom"] == lead["limit"] - lead["in_use"]
        # the ranking agrees with each project's own answer
        one = await call(client, "get_quota", project=lead["project_id"])
        assert (one["tightest"], one["max_used_pct"]) == (lead["tightest"], lead["max_used_pct"])
        everyone = await call(client, "get_quota_pressure", limit=50)
        assert len(everyone["projects"]) == min(50, everyone["projects_ranked"])
        assert _size(pressure) < ANSWER_BUDGET and _size(everyone) < ANSWER_BUDGET
        assert "less than or equal to 50" in await call_error(client, "get_quota_pressure", limit=51)


async def test_refused_service_moved_limits_and_a_project_not_synced_yet(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=20, seed=5)
    settings = make_settings(tmp_path / "quota.db")
    sim.inject(r"/quotas/.*/details", status=403)  # Neutron refuses quotas while the kind syncs
    await sync_everything(settings, sim)
    web = next(p["id"] for p in sim.state.values("projects") if p["name"] == "web")
    async with mcp_client(settings, sim) as client:
        got = await call(client, "get_quota", project="web")
        assert set(got["unavailable"]) == {"network"} and "Not readable: network" in got["summary"]
        assert "403" in got["unavailable"]["network"]
        assert not any(r["service"] == "network" for r in got["resources"])
        pressure = await call(client, "get_quota_pressure")
        assert pressure["projects_unreadable"] == pressure["projects_total"]
        assert all(p["unavailable"] == ["network"] for p in pressure["projects"])

        sim.clear_faults()
        cores = nova_usage(sim, web)["cores"]
        sim.quota_limits[("compute", web)]["cores"] = cores  # lowered since the sync
        before = await call(client, "get_quota", project="web")
        assert before["tightest"] != "compute/cores" or before["max_used_pct"] < 100
        now = await call(client, "get_quota", project="web", live=True)
        assert not now["unavailable"] and now["tightest"] == "compute/cores" and now["max_used_pct"] == 100.0
        assert "At or over the limit: cores" in now["summary"]

        # a project Keystone has (and the projects kind synced) but the quota sync has not seen yet
        conn_kwargs = sim.connect_kwargs()
        conn = openstack.connect(**conn_kwargs)
        try:
            new = conn.identity.create_project(name="quota-newcomer", domain_id="default")
        finally:
            conn.close()
    async with open_app_context(settings, **conn_kwargs) as ctx:
        assert (await ctx.sync.full_sync("projects")).ok
    async with mcp_client(settings, sim) as client:
        err = await call_error(client, "get_quota", project="quota-newcomer")
        assert "not in the snapshot" in err and "last synced" in err and "live=true" in err
        fresh = await call(client, "get_quota", project=new.id, live=True)
        assert fresh["source"] == "live" and fresh["project_name"] == "quota-newcomer"
    # the quota sync itself refused (credentials without the admin role): said as such
    sim.inject(r"/v3/projects$", status=403)
    async with open_app_context(settings, **conn_kwargs) as ctx:
        assert (await ctx.sync.full_sync("project_quotas")).status == "unavailable"
    async with mcp_client(settings, sim) as client:
        err = await call_error(client, "get_quota", project=new.id)
        assert "project_quotas kind is unavailable" in err and "live=true" in err


@backend.sqlite_only
def test_the_ranking_walks_the_max_used_pct_index(synced: Any) -> None:
    sql = str(top_projects("test", 10).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    engine = create_engine(backend.database_url(synced.db_path).replace("+aiosqlite", ""))
    try:
        with engine.connect() as c:
            plan = " ".join(str(r[-1]) for r in c.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    finally:
        engine.dispose()
    assert "ix_project_quotas_cloud_max_used_pct" in plan, plan
