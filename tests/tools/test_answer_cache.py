"""Kept answers (app/services/answer_cache.py): a repeated read is served after one small check, with
current ages; a write to the snapshot, by this process or another, or a finished sync of the answer's
kinds makes it computed again: by a background recompute while the previous answer is served marked
superseded (with the freshness of its own data), or by the request itself after a write-through or for
a stale previous answer; after a sync the warmer recomputes the answers asked for recently; callers of
other project scopes never share one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import open_app_context
from app.resources.registry import all_specs
from app.services.answer_cache import AnswerCache
from app.services.models import SnapshotInfo
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.tools.conftest import call, call_newest, make_settings, mcp_client, mcp_client_and_context, sync_everything


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Any, Simulator]]:
    server = SimulatorServer(Simulator(servers=30, seed=11, transition_seconds=0.2))
    sim = server.start()
    try:
        # long poll intervals: no kind turns stale with time while a test runs (that moves the kept state)
        settings = make_settings(tmp_path / "snapshot.db", poll_intervals={kind: 86400.0 for kind in all_specs()})
        asyncio.run(sync_everything(settings, sim))
        yield settings, sim
    finally:
        server.stop()


async def _sync_servers(settings: Any, sim: Simulator) -> None:
    """A full sync of the servers by ANOTHER context (another process would do the same): the serving
    process learns of it only through the database."""
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        assert (await ctx.sync.full_sync("servers")).ok


def as_of(out: dict[str, Any], kind: str) -> str:
    return next(k["as_of"] for k in out["snapshot"]["kinds"] if k["kind"] == kind)


def _active(out: dict[str, Any]) -> set[str]:
    return {i["id"] for i in out["instances"]}


async def test_repeated_answer_is_kept_until_the_data_moves(fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with mcp_client(settings, sim) as client:
        first = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
        again = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
        assert {k: v for k, v in again.items() if k != "snapshot"} == {k: v for k, v in first.items()
                                                                        if k != "snapshot"}
        assert again["snapshot"]["kinds"] == [{**k, "age_seconds": a["age_seconds"]} for k, a in
                                              zip(first["snapshot"]["kinds"], again["snapshot"]["kinds"])]
        victim = sorted(_active(first))[0]

        servers = sim.state.coll("servers")
        servers[victim].update(status="SHUTOFF", updated="2030-01-01T00:00:00Z")
        await _sync_servers(settings, sim)

        after = await call_newest(client, "get_instances_by_status", status="ACTIVE", limit=200)
        assert victim not in _active(after)
        assert after["total"] == first["total"] - 1
        assert as_of(after, "servers") > as_of(first, "servers")  # the new run's time, not the kept one


async def test_a_sync_that_changed_nothing_still_moves_the_freshness(fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with mcp_client(settings, sim) as client:
        first = await call(client, "get_volume_types")
        assert "servers" not in {k["kind"] for k in first["snapshot"]["kinds"]}
        await _sync_servers(settings, sim)  # not among the volume types kinds: the answer is kept
        kept = await call(client, "get_volume_types")
        assert as_of(kept, "volume_types") == as_of(first, "volume_types")
        async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
            assert (await ctx.sync.full_sync("volume_types")).ok  # its kind: same rows, newer as_of
        renewed = await call_newest(client, "get_volume_types")
        assert as_of(renewed, "volume_types") > as_of(first, "volume_types")
        seen = ("last_seen_at",)  # when each row was last listed: the new run's time
        assert [{k: v for k, v in r.items() if k not in seen} for r in renewed["volume_types"]] == [
            {k: v for k, v in r.items() if k not in seen} for r in first["volume_types"]]


async def test_keys_are_separate_and_the_cache_is_bounded(fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        cache, computed = AnswerCache(), []

        def compute(tag: str) -> Any:
            async def run() -> dict[str, Any]:
                computed.append(tag)
                return {"tag": tag}
            return run

        def serve(key: Any, entries: int = 2) -> Any:
            return cache.serve(ctx, entries, key, compute(str(key)), lambda v: ["servers"],
                               lambda v, snap: {**v, "checked": isinstance(snap, SnapshotInfo)})

        # the same tool and arguments for two project scopes: two answers, each kept for its own key
        assert await serve(("t", "{}", ("p1",))) == {"tag": "('t', '{}', ('p1',))"}
        assert await serve(("t", "{}", ("p2",))) == {"tag": "('t', '{}', ('p2',))"}
        assert (await serve(("t", "{}", ("p1",))))["checked"] is True
        assert computed == ["('t', '{}', ('p1',))", "('t', '{}', ('p2',))"] and cache.hits == 1
        await serve(("t", "{}", None))  # a third key: the least recently used one (p2) goes
        assert len(cache) == 2
        await serve(("t", "{}", ("p2",)))
        assert computed[-1] == "('t', '{}', ('p2',))"
        # 0 entries: every call computes
        before = len(computed)
        await serve(("t", "{}", ("p1",)), entries=0)
        assert len(computed) == before + 1


async def _stop_one(client: Any, sim: Simulator) -> tuple[dict[str, Any], str]:
    """The ACTIVE instances answer (kept from now on) and one of them, stopped in the cloud (not yet synced)."""
    first = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
    victim = sorted(_active(first))[0]
    sim.state.coll("servers")[victim].update(status="SHUTOFF", updated="2030-01-01T00:00:00Z")
    return first, victim


async def test_after_a_sync_the_previous_answer_is_served_superseded_until_the_new_one_is_ready(
        fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with mcp_client_and_context(settings, sim) as (client, ctx):
        hold = asyncio.Event()

        async def held(_key: Any) -> None:
            await hold.wait()

        ctx.answers.before_recompute = held  # the background recompute waits until the test says so
        first, victim = await _stop_one(client, sim)
        await _sync_servers(settings, sim)  # another process's poll: newer data in the database

        result = await client.call_tool("get_instances_by_status", {"status": "ACTIVE", "limit": 200})
        previous = result.structured_content
        assert previous["snapshot"]["superseded"] is True
        assert victim in _active(previous) and previous["total"] == first["total"]  # the answer as it was
        assert as_of(previous, "servers") == as_of(first, "servers")  # dated by the data it came from
        assert "kept from before the latest sync" in result.content[0].text
        again = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)  # still recomputing
        assert again["snapshot"]["superseded"] is True and ctx.answers.superseded == 2

        hold.set()
        await ctx.answers.settled()
        new = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
        assert new["snapshot"]["superseded"] is False and victim not in _active(new)
        assert new["total"] == first["total"] - 1 and as_of(new, "servers") > as_of(first, "servers")


async def test_a_write_through_is_never_hidden_by_a_superseded_answer(fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with mcp_client_and_context(settings, sim) as (client, ctx):
        first, victim = await _stop_one(client, sim)
        # what a management operation does after its API call: a targeted refresh in this process
        assert (await ctx.sync.refresh("servers", [victim])).ok
        after = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
        assert after["snapshot"]["superseded"] is False and victim not in _active(after)
        assert ctx.answers.superseded == 0


async def test_the_warmer_recomputes_recent_answers_after_a_sync(fleet: tuple[Any, Simulator]) -> None:
    settings, sim = fleet
    async with mcp_client_and_context(settings, sim) as (client, ctx):
        first, victim = await _stop_one(client, sim)
        assert (await ctx.sync.full_sync("servers")).ok  # this process's poll: the warmer's look follows
        misses = ctx.answers.misses
        deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
        while ctx.answers.rewarmed < 1 and time.monotonic() < deadline:  # wait for the state
            await asyncio.sleep(0.05)
        await ctx.answers.settled()
        while True:  # a rewarm may land before the run's last state write: the next look brings it current
            hits = ctx.answers.hits
            after = await call(client, "get_instances_by_status", status="ACTIVE", limit=200)
            if ctx.answers.hits == hits + 1 or time.monotonic() > deadline:
                break
            await ctx.answers.settled()
            await asyncio.sleep(0.05)
        assert ctx.answers.hits == hits + 1 and ctx.answers.misses == misses  # no request computed it
        assert after["snapshot"]["superseded"] is False and victim not in _active(after)
