"""get_changes and get_instance_history through the MCP client, against a simulator whose fleet
changes between syncs (issue 13, item 1)."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

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

        hist = await call(client, "get_instance_history", instance=servers[victim]["name"])
        assert hist["id"] == victim and hist["live"] and len(hist["history"]) == 1
        assert hist["history"][0]["after"]["status"] == "ERROR"
        deleted = await call(client, "get_instance_history", instance=gone["id"])
        assert not deleted["live"] and deleted["history"][0]["change"] == "deleted"

        assert "ISO 8601" in await call_error(client, "get_changes", since="yesterday-ish")
        assert "Unknown kind" in await call_error(client, "get_changes", kinds="servers,bogus")
        assert "until is before since" in await call_error(client, "get_changes", since="1h", until="2h")
        assert "No instance" in await call_error(client, "get_instance_history", instance="no-such-vm")
