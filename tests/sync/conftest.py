"""Fixtures for sync/cloud tests: the sync stack bound to a simulator, on a fresh migrated database
(``db_url``, tests/conftest.py: SQLite, or PostgreSQL with OPS_TEST_DATABASE=postgresql)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from app.cloud.connection import CloudClient
from app.db.engine import Database
from app.simulator.core import Simulator
from app.sync.service import SyncService
from tests.sync.helpers import Stack, make_settings


@pytest.fixture
async def make_stack(db_url: str) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    stacks: list[Stack] = []

    async def factory(sim: Simulator, **settings: Any) -> Stack:
        s = make_settings(db_url, **settings)
        db = Database.from_settings(s)
        cloud = CloudClient.from_settings(s, **sim.connect_kwargs())
        stack = Stack(settings=s, db=db, cloud=cloud, service=SyncService(s, db, cloud), sim=sim)
        stacks.append(stack)
        return stack

    yield factory
    for st in stacks:
        await st.close()
