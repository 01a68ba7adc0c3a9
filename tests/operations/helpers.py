"""Management-tool test fixtures (import `fleet` into a test module to use it): a small simulator of our own
fresh migrated database (SQLite or PostgreSQL, tests/backend.py), with writes enabled; helpers to read snapshot rows and audit rows.

Timing: tests never race the simulator's 0.2 s transitions or the flow's background follow-ups. A test
that looks at an intermediate state freezes the simulator's clock (``fleet.sim.freeze()``; transitions
then happen only at ``fleet.sim.advance(...)``), and lets follow-ups run when it says so, through
:func:`managed_client` (``await m.followups.run()``). Waits for a final state (``wait=True``) poll states
with generous timeouts on a running clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from app.config import Settings
from app.services.operations.background import BackgroundTasks
from app.simulator.core import Simulator
from tests import backend
from tests.tools.conftest import make_settings, sync_everything


@dataclass
class Fleet:
    sim: Simulator
    settings: Settings
    db_path: Path

    @property
    def url(self) -> str:
        return self.settings.database_url

    def row(self, table: str, rid: str) -> dict[str, Any] | None:
        r = backend.rows(self.url, f"SELECT * FROM {table} WHERE id = :id", id=rid)  # noqa: S608 (test helper)
        return dict(r[0]._mapping) if r else None

    def audit(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in backend.rows(self.url, "SELECT * FROM operations ORDER BY id")]

    def stored_bytes(self) -> bytes:
        """Everything the database stores (SQLite: the file and its WAL), to search for secrets."""
        return backend.stored_bytes(self.url)

    def server(self, vm_state: str = "active") -> dict[str, Any]:
        """A launched, idle server in ``vm_state`` whose name is unique in the fleet."""
        names = Counter(s["name"] for s in self.sim.state.values("servers"))
        for s in self.sim.state.values("servers"):
            self.sim.settle(s)
            if (s["OS-EXT-STS:vm_state"] == vm_state and s["OS-EXT-STS:task_state"] is None and s.get("_launched")
                    and names[s["name"]] == 1 and not s.get("locked") and self.row("servers", s["id"])):
                return s
        raise AssertionError(f"no idle {vm_state} server in the fleet")

    def volume(self, status: str = "available") -> dict[str, Any]:
        names = Counter(v.get("name") for v in self.sim.state.values("volumes"))
        snapped = {s["volume_id"] for s in self.sim.state.values("snapshots")}
        for v in self.sim.state.values("volumes"):
            self.sim.settle(v)
            if v["status"] == status and v.get("name") and names[v["name"]] == 1 and v["id"] not in snapped:
                return v
        raise AssertionError(f"no {status} volume in the fleet")


@pytest.fixture
async def fleet(make_sim: Callable[..., Simulator], tmp_path: Path) -> Fleet:
    """40 servers (with their volumes, snapshots, ...) synced once; writes enabled."""
    sim = make_sim(servers=40, seed=11, transition_seconds=0.2)
    settings = make_settings(tmp_path / "x.db", allow_modify_operations=True)
    results = await sync_everything(settings, sim)
    assert all(r.status == "succeeded" for r in results.values()), results
    return Fleet(sim=sim, settings=settings, db_path=tmp_path / "x.db")


class HeldFollowUps:
    """Holds the app's background follow-ups: each of their waits (``tasks.sleep``) blocks until :meth:`run`,
    so a test decides when they refresh (after it moved the simulator) instead of racing them."""

    def __init__(self, tasks: BackgroundTasks) -> None:
        self.tasks = tasks
        self._go = asyncio.Event()
        self.waits = 0
        tasks.sleep = self._sleep

    async def _sleep(self, _seconds: float) -> None:
        self.waits += 1
        await self._go.wait()

    @property
    def pending(self) -> int:
        return self.tasks.pending

    async def run(self) -> None:
        """Let every pending follow-up run to its end (its refreshes back to back), then hold again."""
        self._go.set()
        await self.tasks.join()
        self._go = asyncio.Event()


@dataclass
class Managed:
    client: Client
    app: Any  # the server's AppContext
    followups: HeldFollowUps


@asynccontextmanager
async def managed_client(fleet: Fleet, settings: Settings | None = None) -> AsyncIterator[Managed]:
    """An in-process MCP client on a fresh server (like ``tests.tools.conftest.mcp_client``) that also
    hands out the server's AppContext and holds its background follow-ups (see :class:`HeldFollowUps`)."""
    from app.context import open_app_context
    from app.server import ServerState, build_server

    state = ServerState()
    mcp, _ = build_server(settings or fleet.settings, state=state,
                          context_factory=lambda s: open_app_context(s, **fleet.sim.connect_kwargs()))
    async with Client(mcp) as client:
        app = state.context
        assert app is not None, "the server's lifespan did not run"
        yield Managed(client=client, app=app, followups=HeldFollowUps(app.tasks))
