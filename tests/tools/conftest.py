"""Fixtures for tool tests: a simulator fleet synced once into a real migrated database, and an
MCP ``Client`` bound in-process to the real server reading it (poller off, so answers are stable)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from app.config import Settings, load_settings
from app.context import open_app_context
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests import backend


@dataclass
class SyncedCloud:
    sim: Simulator
    settings: Settings
    db_path: Path


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    """Settings for the test database named by ``db_path`` (tests/backend.py: that SQLite file, or a
    PostgreSQL database of its own)."""
    return load_settings(
        _env_file=None, database_url=backend.database_url(db_path), poller_enabled=False,
        cloud_name="test", cold_start_wait=0.0, **overrides,
    )


async def sync_everything(settings: Settings, sim: Simulator) -> dict[str, Any]:
    async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
        return await ctx.sync.sync_all()


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedCloud]:
    """400 instances synced once for the whole session; tests must not mutate this simulator."""
    server = SimulatorServer(Simulator(servers=400, seed=7, transition_seconds=0.2))
    sim = server.start()
    db_path = tmp_path_factory.mktemp("snapshot") / "snapshot.db"
    # Nothing polls this fleet during the session: long intervals keep its freshness "ok" for the
    # session's whole length (staleness is tested with fleets of their own).
    from app.resources.registry import all_specs

    settings = make_settings(db_path, poll_intervals={kind: 86400.0 for kind in all_specs()})
    results = asyncio.run(sync_everything(settings, sim))
    failed = {k: r for k, r in results.items() if getattr(r, "status", "succeeded") != "succeeded"}
    assert not failed, f"initial sync failed: {failed}"
    yield SyncedCloud(sim=sim, settings=settings, db_path=db_path)
    server.stop()


def server_and_state(settings: Settings, sim: Simulator) -> tuple[Any, Any]:
    """The server and its :class:`app.server.ServerState` (``state.context``: the serving AppContext)."""
    from app.server import build_server

    return build_server(settings, context_factory=lambda s: open_app_context(s, **sim.connect_kwargs()))


def server_for(settings: Settings, sim: Simulator) -> Any:
    return server_and_state(settings, sim)[0]


@asynccontextmanager
async def mcp_client(settings: Settings, sim: Simulator) -> AsyncIterator[Client]:
    """An in-process MCP client on a fresh server. Used as ``async with`` inside the test body: the
    SDK's task groups must be entered and exited by the same task, which an async yield-fixture
    (set up and torn down in different tasks) does not guarantee."""
    async with Client(server_for(settings, sim)) as c:
        yield c


@asynccontextmanager
async def mcp_client_and_context(settings: Settings, sim: Simulator) -> AsyncIterator[tuple[Client, Any]]:
    """:func:`mcp_client` and the server's AppContext (its answer cache, sync service, warmer)."""
    mcp, state = server_and_state(settings, sim)
    async with Client(mcp) as c:
        yield c, state.context


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool and return its structured result; fail the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text if result.content else result}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    return result.structured_content


# List tools whose `detail` argument selects lean rows by default (app/tools/detail.py).
LEAN_TOOLS = frozenset({"get_volume_list", "get_network_details", "get_stacks", "get_port_list",
                        "get_hypervisor_list", "get_load_balancers"})


async def call_full(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """:func:`call` asking the lean list tools for every field (tests that check full rows)."""
    if tool in LEAN_TOOLS:
        arguments.setdefault("detail", "full")
    return await call(client, tool, **arguments)


async def _call_until(client: Client, tool: str, done: Callable[[dict[str, Any]], bool],
                      arguments: dict[str, Any]) -> dict[str, Any]:
    """:func:`call` until ``done(answer)``: waits for a state, bounded by a guard against a hang, not a
    timing assertion."""
    deadline = time.monotonic() + 120
    while True:
        out = await call(client, tool, **arguments)
        if done(out) or time.monotonic() > deadline:
            return out
        await asyncio.sleep(0.05)


async def call_current(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a report tool (get_cluster_status, monitor_resources) until its figures summarise the current
    data: after a write, the report is rebuilt in the background and a call meanwhile gets the previous
    one marked ``computed.current=false`` (docs/performance.md)."""
    return await _call_until(client, tool, lambda out: bool(out["computed"]["current"]), arguments)


async def call_newest(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool until its answer is not a kept one served while it is computed again after a sync
    (``snapshot.superseded``, app/services/answer_cache.py)."""
    return await _call_until(client, tool, lambda out: not (out.get("snapshot") or {}).get("superseded"),
                             arguments)


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return the error text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return result.content[0].text
