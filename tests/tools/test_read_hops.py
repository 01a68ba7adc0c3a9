"""A read tool costs one worker-thread call: every statement of the answer, freshness included, runs in
one :meth:`app.db.engine.Database.read` (counted at the executor's submission, not timed), and the
per-statement async reader is not used at all."""

from __future__ import annotations

import contextvars
import inspect
import os
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.db.engine import Database
from app.db.readpath import ReadExecutor
from app.services.answer_cache import AnswerCache
from tests import backend
from tests.tools.conftest import SyncedCloud, call, mcp_client

# tool, arguments ("{server}" / "{flavor}": a live server's / flavor's name in the session's fleet)
ONE_HOP = [
    ("get_service_status", {}),
    ("get_instance_details", {"all_instances": True, "limit": 5}),
    ("get_instance_details", {"instance_names": "{server}"}),
    ("search_instances", {"search_term": "a"}),
    ("get_instance_by_name", {"instance_name": "{server}"}),
    ("get_instances_by_status", {"status": "ACTIVE"}),
    ("get_hypervisor_list", {}),
    ("get_flavor_list", {}),
    ("get_image_list", {}),
    ("get_stacks", {}),
    ("get_keypair_list", {}),
    ("get_user_list", {}),
    ("get_project_list", {}),
    ("get_role_assignments", {}),
    ("get_network_details", {"network_name": "all"}),
    ("get_floating_ips", {}),
    ("get_routers", {}),
    ("get_security_groups", {}),
    ("get_port_list", {}),
    ("get_subnet_list", {}),
    ("get_network_agents", {}),
    ("get_availability_zones", {}),
    ("get_resource_providers", {}),
    ("get_volume_list", {}),
    ("get_volume_list", {"orphaned": True}),
    ("get_volume_types", {}),
    ("get_volume_snapshots", {}),
    ("get_changes", {"since": "1d"}),
    ("get_instance_history", {"instance": "{server}"}),
    ("get_sync_status", {}),
    ("get_sync_status", {"kind": "servers", "runs": 3}),
    ("get_operation_log", {}),
    ("plan_capacity", {"flavor": "{flavor}", "count": 2}),
    ("get_resource", {"kind": "servers", "id_or_name": "{server}"}),
]


def _from_a_tool() -> bool:
    """Whether the running coroutine chain started in a tool (app/tools/): background work of the
    same server (the report warmer after a sync) is not the call being counted."""
    return any(f"{os.sep}app{os.sep}tools{os.sep}" in frame.filename for frame in inspect.stack(0))


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """``read``: reads through the read executor, a worker-thread hop each (``run``) or one statement
    (``run_one``: on SQLite inline on the loop, its fallback to ``run`` not counted again)."""
    counts = {"read": 0, "reader": 0}
    run, run_one, reader = ReadExecutor.run, ReadExecutor.run_one, Database.reader
    in_one = contextvars.ContextVar("in_one", default=False)  # per task: concurrent reads are not hidden

    async def counted_run(self: ReadExecutor, fn: Any, *args: Any) -> Any:
        counts["read"] += _from_a_tool() and not in_one.get()
        return await run(self, fn, *args)

    async def counted_run_one(self: ReadExecutor, fn: Any, *args: Any) -> Any:
        counts["read"] += _from_a_tool()
        token = in_one.set(True)
        try:
            return await run_one(self, fn, *args)
        finally:
            in_one.reset(token)

    @asynccontextmanager
    async def counted_reader(self: Database) -> Any:
        counts["reader"] += _from_a_tool()
        async with reader(self) as conn:
            yield conn

    monkeypatch.setattr(ReadExecutor, "run", counted_run)
    monkeypatch.setattr(ReadExecutor, "run_one", counted_run_one)
    monkeypatch.setattr(Database, "reader", counted_reader)
    return counts


def _fill(args: dict[str, Any], url: str) -> dict[str, Any]:
    names = {
        "{server}": backend.rows(url, "SELECT name FROM servers WHERE deleted_at IS NULL AND name IS NOT NULL "
                                      "AND name NOT IN (SELECT name FROM servers WHERE deleted_at IS NULL "
                                      "GROUP BY name HAVING count(*) > 1) ORDER BY id LIMIT 1")[0].name,
        "{flavor}": backend.rows(url, "SELECT id FROM flavors WHERE deleted_at IS NULL ORDER BY id LIMIT 1")[0].id,
    }
    return {k: names.get(v, v) if isinstance(v, str) else v for k, v in args.items()}


@pytest.mark.parametrize("kept", [False, True], ids=["computed", "kept"])
async def test_every_read_tool_is_one_hop(synced: SyncedCloud, hops: dict[str, int], kept: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One server for every case (a server per case would cost seconds each). ``computed``: answers
    are not kept (OPS_ANSWER_CACHE_ENTRIES=0), every call computes its answer; ``kept``: the second
    call of a cached tool is served from the answer cache after its one check."""
    caches: list[AnswerCache] = []
    init = AnswerCache.__init__

    def tracked(self: AnswerCache) -> None:
        init(self)
        caches.append(self)

    monkeypatch.setattr(AnswerCache, "__init__", tracked)
    settings = synced.settings.model_copy(update={"answer_cache_entries": 256 if kept else 0})
    got = {}
    async with mcp_client(settings, synced.sim) as client:
        for i, (tool, args) in enumerate(ONE_HOP):
            args = _fill(args, synced.settings.database_url)
            await call(client, tool, **args)  # warm: first-use setup (connections, caches) is not counted
            hops.update(read=0, reader=0)
            await call(client, tool, **args)
            got[f"{i}:{tool}"] = dict(hops)
    assert {k: v for k, v in got.items() if v != {"read": 1, "reader": 0}} == {}
    hits = sum(c.hits for c in caches)
    assert hits >= (25 if kept else 0) and (kept or hits == 0), hits
