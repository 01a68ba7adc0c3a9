"""get_changes and get_instance_history through the MCP client, against a simulator whose fleet
changes between syncs (issue 13, item 1)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.context import open_app_context
from app.services.changes import get_changes
from app.services.scope import ProjectScope
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything


async def test_what_changed_and_one_instances_history(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=30, seed=11)
    settings = make_settings(tmp_path / "history.db")
    await sync_everything(settings, sim)  # the first sync: nothing is "created"
    servers = sim.state.coll("servers")
    ids = sorted(servers, key=lambda i: servers[i]["name"])
    active = [i for i in ids if servers[i]["status"] == "ACTIVE"]
    for sid in active[:3]:
        servers[sid]["status"] = "ERROR"
    victim = active[0]
    servers[victim]["OS-EXT-SRV-ATTR:host"] = "moved-host-1"
    gone = sim.state.remove("servers", active[3])
    new = copy.deepcopy(servers[active[4]])
    new.update(id=str(uuid.uuid4()), name="history-new-vm")
    sim.state.add("servers", new)
    await sync_everything(settings, sim)

    async with mcp_client(settings, sim) as client:
        got = await call(client, "get_changes", since="1h", kinds="servers")
        counts = {c["kind"]: c for c in got["counts"]}
        assert (counts["servers"]["created"], counts["servers"]["deleted"], counts["servers"]["changed"]) == (1, 1, 3)
        assert got["status_transitions"] == {"servers: ACTIVE->ERROR": 3}
        assert "servers: 1 created, 1 deleted, 3 changed" in got["summary"]
        assert "ACTIVE->ERROR x3" in got["summary"]
        by_id = {c["id"]: c for c in got["changes"]}
        assert by_id[victim]["before"]["host"] != "moved-host-1" and by_id[victim]["after"]["host"] == "moved-host-1"
        assert by_id[gone["id"]]["change"] == "deleted" and by_id[new["id"]]["change"] == "created"
        assert got["page"]["total"] == 5

        only = await call(client, "get_changes", since="1h", change="deleted", limit=1)
        assert [c["id"] for c in only["changes"]] == [gone["id"]] and not only["page"]["has_more"]
        assert (await call(client, "get_changes", since="3h", until="2h"))["page"]["total"] == 0
        for since, until in (("1h", "9999-12-31T23:59:59.999999Z"), ("0001-01-01T00:00:00Z", None)):  # the ends of time
            got = await call(client, "get_changes", since=since, until=until, kinds="servers")
            assert got["page"]["total"] == 5

        hist = await call(client, "get_instance_history", instance=servers[victim]["name"])
        assert hist["id"] == victim and hist["live"] and len(hist["history"]) == 1
        assert hist["history"][0]["after"]["status"] == "ERROR"
        deleted = await call(client, "get_instance_history", instance=gone["id"])
        assert not deleted["live"] and deleted["history"][0]["change"] == "deleted"

        assert "ISO 8601" in await call_error(client, "get_changes", since="yesterday-ish")
        assert "Unknown kind" in await call_error(client, "get_changes", kinds="servers,bogus")
        assert "until is before since" in await call_error(client, "get_changes", since="1h", until="2h")
        assert "No instance" in await call_error(client, "get_instance_history", instance="no-such-vm")


async def test_changes_of_a_project_and_of_a_restricted_caller(make_sim: Any, tmp_path: Path) -> None:
    """The counts and the page of one project (the project filter), of a caller restricted to some
    projects, and of both at once (only the projects in both), equal the change rows themselves."""
    sim = make_sim(servers=40, seed=12)
    settings = make_settings(tmp_path / "scoped.db")
    await sync_everything(settings, sim)
    servers = sim.state.coll("servers")
    by_project: dict[str, list[str]] = {}
    for sid in sorted(servers, key=lambda i: servers[i]["name"]):
        by_project.setdefault(servers[sid]["tenant_id"], []).append(sid)
    picked = [sid for group in by_project.values() for sid in group[:6]]  # six of every project
    for sid in picked:
        servers[sid]["status"] = "ERROR" if servers[sid]["status"] != "ERROR" else "ACTIVE"
    await sync_everything(settings, sim)
    changed = [servers[i] for i in picked]
    projects = sorted({s["tenant_id"] for s in changed})
    assert len(projects) >= 2

    def expected(allowed: set[str]) -> int:
        return sum(1 for s in changed if s["tenant_id"] in allowed)

    async with open_app_context(settings, **sim.connect_kwargs()) as app:
        one = projects[0]
        got = await get_changes(app, "1h", None, "servers", one, None, 200, 0)
        assert got.page.total == expected({one}) == len(got.changes)
        assert {c.project_id for c in got.changes} == {one}
        scoped = replace(app, scope=ProjectScope(projects=frozenset(projects[1:])))
        got = await get_changes(scoped, "1h", None, None, None, "changed", 200, 0)
        assert got.page.total == expected(set(projects[1:])) == len(got.changes)
        assert sum(got.status_transitions.values()) == got.page.total
        assert (await get_changes(scoped, "1h", None, None, one, None, 200, 0)).page.total == 0  # not its project
        both = await get_changes(scoped, "1h", None, None, projects[1], None, 200, 0)
        assert both.page.total == expected({projects[1]})
