"""Management-tool test fixtures (import `fleet` into a test module to use it): a small simulator of our own
fresh migrated SQLite file, with writes enabled; helpers to read snapshot rows and audit rows."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.services.operations import flow
from app.simulator.core import Simulator
from tests.tools.conftest import make_settings, sync_everything


@dataclass
class Fleet:
    sim: Simulator
    settings: Settings
    db_path: Path

    def row(self, table: str, rid: str) -> dict[str, Any] | None:
        with sqlite3.connect(self.db_path) as c:
            c.row_factory = sqlite3.Row
            r = c.execute(f"SELECT * FROM {table} WHERE id = ?", (rid,)).fetchone()  # noqa: S608 (test helper)
        return dict(r) if r else None

    def audit(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path) as c:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute("SELECT * FROM operations ORDER BY id")]

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
async def fleet(make_sim: Callable[..., Simulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    """40 servers (with their volumes, snapshots, ...) synced once; writes enabled; follow-up refresh 0.5 s."""
    monkeypatch.setattr(flow, "FOLLOWUP_DELAY_S", 0.5)
    sim = make_sim(servers=40, seed=11, transition_seconds=0.2)
    settings = make_settings(tmp_path / "x.db", allow_modify_operations=True)
    results = await sync_everything(settings, sim)
    assert all(r.status == "succeeded" for r in results.values()), results
    return Fleet(sim=sim, settings=settings, db_path=tmp_path / "x.db")
