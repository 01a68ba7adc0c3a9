"""The simulator's record store: every simulated resource per kind, and the version that
:meth:`app.simulator.core.Simulator.memo` keys its fleet-wide answers on."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


class SimState:
    """All simulated resources, per kind, in insertion order (``dict`` id -> API-shaped record)."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.RLock()
        # Bumped by every change the simulator makes (records added or removed, pending steps scheduled or
        # applied, every request but GET/HEAD): what :meth:`Simulator.memo` keys its fleet-wide answers on.
        self.version = 0

    def touch(self) -> None:
        self.version += 1

    def coll(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.kinds.setdefault(kind, {})

    def add(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        self.coll(kind)[record["id"]] = record
        self.version += 1
        return record

    def get(self, kind: str, rid: str) -> dict[str, Any] | None:
        return self.kinds.get(kind, {}).get(rid)

    def remove(self, kind: str, rid: str, keep_tombstone: bool = False) -> dict[str, Any] | None:
        rec = self.kinds.get(kind, {}).pop(rid, None)
        self.version += 1
        if rec is not None and keep_tombstone:
            self.deleted.setdefault(kind, []).append(rec)
        return rec

    def values(self, kind: str) -> Iterable[dict[str, Any]]:
        return self.kinds.get(kind, {}).values()

    def count(self, kind: str) -> int:
        return len(self.kinds.get(kind, {}))
