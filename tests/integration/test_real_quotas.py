"""Quotas and usage against the real Nova, Neutron and Cinder of ../shared/real-openstack: the
``project_quotas`` kind field by field against what openstacksdk reads (its own QuotaSet / QuotaDetails
resources), unlimited (-1) on our own test project, get_quota from the snapshot and live and
get_quota_pressure through the MCP client, a member's refused quota reads (403 is unavailable, not
"quota exceeded"), and real Nova's /limits agreeing with os-quota-sets (what the simulator models).

The cloud is shared: other sessions boot servers in ``admin`` while this runs, so usage read by
openstacksdk before and after the sync bounds what the snapshot may hold.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from app.resources._quotas import used_pct

from .conftest import AUTH, PREFIX, Fleet, make_settings, query, run_sync

pytestmark = [pytest.mark.real_openstack, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

Reading = dict[tuple[str, str, str], tuple[int, int, int]]


def sdk_quotas(c: Any) -> Reading:
    """(project, service, resource) -> (limit, in use, reserved) of every project's key resources, through
    openstacksdk's quota resources (not the raw paths the sync uses)."""
    out: Reading = {}
    for p in c.identity.projects():
        q = c.compute.get_quota_set(p.id, usage=True)
        for ours, sdk in (("instances", "instances"), ("cores", "cores"), ("ram_mb", "ram")):
            out[(p.id, "compute", ours)] = (getattr(q, sdk), q.usage[sdk], q.reservation[sdk])
        n = c.network.get_quota(p.id, details=True)
        for ours, sdk in (("floating_ips", "floating_ips"), ("ports", "ports"), ("networks", "networks")):
            d = getattr(n, sdk)
            out[(p.id, "network", ours)] = (d["limit"], d["used"], d["reserved"])
        v = c.block_storage.get_quota_set(p.id, usage=True)
        for res in ("volumes", "gigabytes", "snapshots"):
            out[(p.id, "volume", res)] = (getattr(v, res), v.usage[res], v.reservation[res])
    return out


def stored(db: Path) -> Reading:
    return {(pid, s, r): (lim, used, res) for pid, s, r, lim, used, res in query(
        db, "SELECT project_quota_id, service, resource, quota_limit, in_use, reserved FROM project_quota_items "
            "WHERE key_resource")}


def test_project_quotas_field_by_field(conn: Any, fleet: Fleet, tmp_path: Path) -> None:
    db = tmp_path / "quotas.db"
    before = sdk_quotas(conn)
    results, _ = asyncio.run(run_sync(make_settings(db), ["project_quotas"]))
    after = sdk_quotas(conn)
    r = results["project_quotas"]
    assert r.status == "succeeded" and r.error is None, (r.status, r.error)
    got = stored(db)
    assert set(before) & set(after) <= set(got) <= set(before) | set(after)
    moved = [k for k in got if before.get(k) != after.get(k)]
    for key, value in got.items():
        assert value in (before.get(key), after.get(key)), (key, value, before.get(key), after.get(key))
    assert len(moved) < len(got)  # the comparison is not vacuous
    # admin runs the fleet's servers and volumes: real usage, not an empty-equals-empty pass
    admin = conn.current_project_id
    # (other modules delete some of the fleet's servers: count the ones that still exist)
    alive = [sid for sid in fleet.servers.values() if conn.compute.find_server(sid, ignore_missing=True) is not None]
    assert alive and got[(admin, "compute", "instances")][1] >= len(alive)
    assert got[(admin, "volume", "volumes")][1] >= 2 and got[(admin, "network", "floating_ips")][1] >= 2
    for pid, service, res, pct in query(db, "SELECT project_quota_id, service, resource, used_pct "
                                              "FROM project_quota_items"):
        limit, in_use, _ = got.get((pid, service, res)) or (None, None, None)
        if limit is not None:
            assert pct == used_pct(limit, in_use), (pid, service, res)
    for pid, max_pct, tightest, in_use, limit, unavailable in query(
            db, "SELECT id, max_used_pct, tightest, tightest_in_use, tightest_limit, unavailable FROM project_quotas"):
        assert unavailable is None, (pid, unavailable)  # admin credentials read every service
        mine = {(s, r): v for (p, s, r), v in got.items() if p == pid and v[0] > 0}
        if not mine:  # every key resource unlimited (somebody's project): nothing to rank
            assert (max_pct, tightest) == (None, None)
            continue
        top = max(mine.items(), key=lambda kv: (used_pct(kv[1][0], kv[1][1]), -(kv[1][0] - kv[1][1])))
        assert max_pct == max(used_pct(v[0], v[1]) for v in mine.values())
        assert (in_use, limit) == (top[1][1], top[1][0]) and max_pct == used_pct(limit, in_use), tightest


def test_unlimited_is_never_a_percentage(conn: Any, fleet: Fleet, tmp_path: Path) -> None:
    """Our own test project (mcpit-project) set unlimited on one resource per service, then put back to
    the defaults."""
    pid = fleet.project
    try:
        conn.compute.update_quota_set(pid, instances=-1, cores=-1)
        conn.network.update_quota(pid, floating_ips=-1)
        conn.block_storage.update_quota_set(pid, snapshots=-1)
        db = tmp_path / "unlimited.db"
        results, _ = asyncio.run(run_sync(make_settings(db), ["project_quotas"]))
        assert results["project_quotas"].status == "succeeded"
        rows = {(s, r): (lim, pct) for s, r, lim, pct in query(
            db, "SELECT service, resource, quota_limit, used_pct FROM project_quota_items WHERE project_quota_id = ?",
            pid)}
        for key in (("compute", "instances"), ("compute", "cores"), ("network", "floating_ips"),
                    ("volume", "snapshots")):
            assert rows[key] == (-1, None), key
        (tightest,) = query(db, "SELECT tightest FROM project_quotas WHERE id = ?", pid)[0]
        assert tightest not in ("compute/instances", "compute/cores", "network/floating_ips", "volume/snapshots")
    finally:
        conn.compute.revert_quota_set(pid)
        conn.network.delete_quota(pid)
        conn.block_storage.revert_quota_set(pid)


async def test_tools_from_the_snapshot_and_live(conn: Any, fleet: Fleet, tmp_path: Path) -> None:
    from app.context import open_app_context
    from app.server import build_server

    db = tmp_path / "tools.db"
    settings = make_settings(db)
    await run_sync(settings, ["projects", "project_quotas"])
    mcp, _ = build_server(settings, context_factory=lambda s: open_app_context(s, **AUTH))
    async with Client(mcp) as client:
        async def call(tool: str, **arguments: Any) -> dict[str, Any]:
            res = await client.call_tool(tool, arguments)
            assert not res.is_error, res.content[0].text
            return res.structured_content

        snap = await call("get_quota", project="admin", all_resources=True)
        now = await call("get_quota", project="admin", all_resources=True, live=True)
        assert (snap["source"], now["source"]) == ("snapshot", "live")
        assert not snap["unavailable"] and not now["unavailable"]
        # the same resources with the same limits (usage may have moved: the cloud is shared)
        assert {(r["service"], r["resource"], r["limit"]) for r in snap["resources"]} == \
               {(r["service"], r["resource"], r["limit"]) for r in now["resources"]}
        names = {r["resource"] for r in snap["resources"]}
        assert {"key_pairs", "router", "security_group", "backups", "volumes___DEFAULT__"} <= names
        pressure = await call("get_quota_pressure", limit=50)
        assert pressure["projects_total"] == len(list(conn.identity.projects()))
        assert any(p["project_id"] == conn.current_project_id for p in pressure["projects"])


async def test_a_member_is_refused_other_projects_quotas_not_over_quota(conn: Any, fleet: Fleet,
                                                                        tmp_path: Path) -> None:
    """With a member of mcpit-project's credentials, the admin project's quotas are refused by
    policy: reported per service as unavailable with the 403, never as QuotaExceeded or zeros."""
    from app.context import open_app_context
    from app.services.quota_live import fetch_project

    # a user of this test's own: the fleet's mcpit-user gets a new password from every session's fixture
    password = f"mcpit-pw-{uuid.uuid4().hex}"
    user = conn.identity.find_user(f"{PREFIX}quota-reader", domain_id="default")
    if user is None:
        user = conn.identity.create_user(name=f"{PREFIX}quota-reader", domain_id="default", password=password)
    else:
        user = conn.identity.update_user(user, password=password)
    conn.identity.assign_project_role_to_user(fleet.project, user, conn.identity.find_role("member"))
    member = {**AUTH, "username": f"{PREFIX}quota-reader", "password": password, "project_name": f"{PREFIX}project"}
    async with open_app_context(make_settings(tmp_path / "member.db"), **member) as ctx:
        _, own_rows, own_unavailable = await fetch_project(ctx, fleet.project)
        _, rows, unavailable = await fetch_project(ctx, conn.current_project_id)
    assert not own_unavailable and {r["service"] for r in own_rows} == {"compute", "network", "volume"}
    assert rows == [] and set(unavailable) == {"compute", "network", "volume"}, unavailable
    for service, why in unavailable.items():
        assert "Quota exceeded" not in why and ("forbids" in why or "403" in why), (service, why)


def test_nova_limits_agree_with_quota_sets(conn: Any, fleet: Fleet) -> None:
    """What the simulator's /limits models: real Nova's absolute limits are the os-quota-sets values."""
    pid = conn.current_project_id
    for _ in range(5):  # other sessions boot servers in admin: read both until nothing moved in between
        quota = conn.compute.get(f"/os-quota-sets/{pid}/detail", microversion="2.100").json()["quota_set"]
        absolute = conn.compute.get("/limits", microversion="2.100").json()["limits"]["absolute"]
        again = conn.compute.get(f"/os-quota-sets/{pid}/detail", microversion="2.100").json()["quota_set"]
        if quota == again:
            break
    assert quota == again
    assert (absolute["maxTotalInstances"], absolute["totalInstancesUsed"]) == (quota["instances"]["limit"],
                                                                             quota["instances"]["in_use"])
    assert (absolute["maxTotalCores"], absolute["totalCoresUsed"]) == (quota["cores"]["limit"], quota["cores"]["in_use"])
    assert (absolute["maxTotalRAMSize"], absolute["totalRAMUsed"]) == (quota["ram"]["limit"], quota["ram"]["in_use"])
    assert absolute["maxServerMeta"] == quota["metadata_items"]["limit"]
    assert absolute["maxTotalKeypairs"] == quota["key_pairs"]["limit"]
