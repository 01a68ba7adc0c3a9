"""Fixtures for sync/cloud tests: a migrated SQLite file and the sync stack bound to a simulator."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.cloud.connection import CloudClient
from app.db.engine import Database, prepare_database_sync
from app.simulator.core import Simulator
from app.sync.service import SyncService
from tests.sync.helpers import Stack, make_settings


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated to head with the real migrations; tests get copies (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "snapshot.db"
    prepare_database_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    target = tmp_path / "data" / "snapshot.db"
    target.parent.mkdir(parents=True)
    shutil.copyfile(migrated_template, target)
    return f"sqlite+aiosqlite:///{target}"


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
