"""Test helpers shared by tests/sync and tests/cloud: Settings for a test database, reads of it, and the
sync stack (Database + CloudClient + SyncService) bound to a simulator over HTTP."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.cloud.connection import CloudClient
from app.config import Settings, load_settings
from app.db.engine import Database
from app.simulator.core import FaultRule, Simulator
from app.sync.service import SyncService
from tests import backend


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": db_url, "cloud_name": "test", "page_size": 1000,
                              "sdk_concurrency": 4, "api_timeout": 20.0}
    values.update(overrides)
    return load_settings(_env_file=None, **values)


@dataclass
class Stack:
    settings: Settings
    db: Database
    cloud: CloudClient
    service: SyncService
    sim: Simulator

    async def close(self) -> None:
        await self.service.cancel_all()
        await self.cloud.close()
        await self.db.dispose()


def count_rows(db_url: str, table: str, where: str = "1=1") -> int:
    return backend.count_rows(db_url, table, where)


def query(db_url: str, sql: str, **params: Any) -> list[Any]:
    return backend.rows(db_url, sql, **params)


def file_bytes(db_url: str) -> bytes:
    """What the database stores, as bytes (SQLite: the file plus its WAL; call after ``db.dispose()``)."""
    return backend.stored_bytes(db_url)


class NthRequest(FaultRule):
    """A fault rule that fires only on the ``nth`` matching request (1-based), optionally running a
    side effect instead of failing (``effect``)."""

    def __init__(self, pattern: str, nth: int, *, effect: Any = None, **kwargs: Any) -> None:
        super().__init__(pattern=pattern, **kwargs)
        self.nth = nth
        self.effect = effect
        self.seen = 0

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if method.upper() != "GET" or not super().matches(method, path, rng):
            return False
        self.seen += 1
        if self.seen != self.nth:
            return False
        if self.effect is not None:
            self.effect()
            return False
        return True


class RequestCounter(FaultRule):
    """Never fires; records every (method, path) the simulator receives. Install with :func:`count_requests`."""

    def __init__(self) -> None:
        super().__init__(pattern=".*")
        self.seen: list[tuple[str, str]] = []

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        self.seen.append((method.upper(), path))
        return False

    def hits(self, pattern: str, method: str = "GET") -> int:
        import re

        return sum(1 for m, p in self.seen if m == method and re.search(pattern, p))


def count_requests(sim: Simulator) -> RequestCounter:
    counter = RequestCounter()
    sim.faults.insert(0, counter)
    return counter


__all__ = ["NthRequest", "Stack", "count_rows", "file_bytes", "func", "make_settings", "query", "count_requests",
           "select"]
