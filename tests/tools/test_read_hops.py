"""A read tool costs one worker-thread call: every statement of the answer, freshness included, runs in
one :meth:`app.db.engine.Database.read` (counted at the executor's submission, not timed), and the
per-statement async reader is not used at all."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.db.engine import Database
from app.db.readpath import ReadExecutor
from tests.tools.conftest import SyncedCloud, call, mcp_client

# tool, arguments: the converted read tools
ONE_HOP = [
    ("get_service_status", {}),
]


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"read": 0, "reader": 0}
    run, reader = ReadExecutor.run, Database.reader

    async def counted_run(self: ReadExecutor, fn: Any, *args: Any) -> Any:
        counts["read"] += 1
        return await run(self, fn, *args)

    @asynccontextmanager
    async def counted_reader(self: Database) -> Any:
        counts["reader"] += 1
        async with reader(self) as conn:
            yield conn

    monkeypatch.setattr(ReadExecutor, "run", counted_run)
    monkeypatch.setattr(Database, "reader", counted_reader)
    return counts


@pytest.mark.parametrize(("tool", "args"), ONE_HOP, ids=[t for t, _ in ONE_HOP])
async def test_a_read_tool_is_one_hop(synced: SyncedCloud, hops: dict[str, int], tool: str, args: dict[str, Any]) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        await call(client, tool, **args)  # warm: first-use setup (connections, caches) is not counted
        hops.update(read=0, reader=0)
        await call(client, tool, **args)
    assert hops == {"read": 1, "reader": 0}
