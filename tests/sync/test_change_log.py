"""The change log: the sync itself appends what it saw change (issue 13, item 1)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

from app.db.engine import utcnow
from tests.sync.helpers import query


def changes(db_url: str) -> list[tuple[Any, ...]]:
    return query(db_url, "SELECT kind, resource_id, change, name, before, after, sync_run_id FROM snapshot_changes "
                         "ORDER BY id")


def _j(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


async def test_sync_logs_created_changed_deleted_but_not_the_first_sync(make_sim: Any, make_stack: Any,
                                                                        db_url: str) -> None:
    sim = make_sim(servers=12)
    st = await make_stack(sim, page_size=5)
    assert (await st.service.full_sync("servers")).ok
    assert changes(db_url) == []  # the first sync saw the fleet; nothing was "created" then

    servers = sim.state.coll("servers")
    ids = sorted(servers)
    servers[ids[0]]["status"] = "ERROR"
    servers[ids[0]]["updated"] = "2030-01-01T00:00:00Z"
    servers[ids[1]]["updated"] = "2030-01-01T00:00:00Z"  # only an untracked field: not logged
    gone = sim.state.remove("servers", ids[2])
    new = copy.deepcopy(servers[ids[3]])
    new.update(id=str(uuid.uuid4()), name="added-by-test")
    sim.state.add("servers", new)
    second = await st.service.full_sync("servers")
    assert second.ok and (second.added, second.changed, second.tombstoned) == (1, 2, 1)

    log = {(r[1], r[2]): r for r in changes(db_url)}
    assert set(log) == {(ids[0], "changed"), (ids[2], "deleted"), (new["id"], "created")}
    before, after = _j(log[ids[0], "changed"][4]), _j(log[ids[0], "changed"][5])
    assert after["status"] == "ERROR" and before["status"] != "ERROR" and set(before) == set(after)
    assert "updated_at" not in after
    assert log[ids[2], "deleted"][3] == gone["name"] and _j(log[ids[2], "deleted"][4])["status"] == gone["status"]
    assert _j(log[new["id"], "created"][5])["name"] == "added-by-test"
    assert {r[6] for r in log.values()} == {second.run_id}

    # A targeted refresh logs too; retention drops old entries.
    servers[ids[4]]["status"] = "SHUTOFF"
    assert (await st.service.refresh("servers", [ids[4]])).ok
    assert (ids[4], "changed") in {(r[1], r[2]) for r in changes(db_url)}
    purged = await st.service.purge(now=utcnow() + timedelta(days=st.settings.change_retention_days + 1))
    assert purged["snapshot_changes"] == 4 and changes(db_url) == []
