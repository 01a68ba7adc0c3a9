"""Shared by the fault, crash and fuzz suites: fault rules keyed on request order, and database
views (live ids, per-table counts) to compare with the simulator's own state."""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path
from typing import Any

from app.simulator.core import FaultRule, Simulator

# Tables that only book-keep (their counts legitimately move on every run).
BOOKKEEPING = {"sync_runs", "poller_lease", "snapshot_versions", "alembic_version", "operations",
               "operation_log", "confirmations", "sync_state", "snapshot_changes", "snapshot_change_counts",
               "cloud_identities"}


class FromNth(FaultRule):
    """Fires on the ``nth`` matching GET and (within ``count``) every one after it: page ``nth`` of a
    listing fails, and so do keystoneauth's retries of it."""

    def __init__(self, pattern: str, nth: int, **kwargs: Any) -> None:
        super().__init__(pattern=pattern, **kwargs)
        self.nth = nth
        self.seen = 0

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if method.upper() != "GET" or not re.search(self.pattern, path):
            return False
        self.seen += 1
        return self.seen >= self.nth and super().matches(method, path, rng)


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def live_ids(db: Path, table: str = "servers", cloud: str = "test") -> set[str]:
    with connect(db) as c:
        return {r[0] for r in c.execute(f"SELECT id FROM {table} WHERE cloud=? AND deleted_at IS NULL", (cloud,))}


def table_counts(db: Path) -> dict[str, tuple[int, int]]:
    """(all rows, live rows) per snapshot table; live = not tombstoned (tables without ``deleted_at``
    report their total twice)."""
    out: dict[str, tuple[int, int]] = {}
    with connect(db) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in tables:
            if t in BOOKKEEPING or t.startswith("sqlite_"):
                continue
            cols = {r[1] for r in c.execute(f'PRAGMA table_info("{t}")')}
            total = c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            live = c.execute(f'SELECT count(*) FROM "{t}" WHERE deleted_at IS NULL').fetchone()[0] \
                if "deleted_at" in cols else total
            out[t] = (total, live)
    return out


def runs(db: Path, where: str = "1=1") -> list[sqlite3.Row]:
    with connect(db) as c:
        c.row_factory = sqlite3.Row
        return list(c.execute(f"SELECT * FROM sync_runs WHERE {where} ORDER BY id"))


def sim_ids(sim: Simulator, kind: str = "servers") -> set[str]:
    with sim.state.lock:
        return set(sim.state.coll(kind))
