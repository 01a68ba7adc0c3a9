"""Fixtures of the database-layer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.db.engine import Database
from app.resources.registry import load_all_tables
from tests import backend


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database migrated to head (SQLite, or PostgreSQL with OPS_TEST_DATABASE=postgresql)."""
    load_all_tables()
    d = Database(backend.new_database_url(tmp_path, "snapshot.db"))
    yield d
    await d.dispose()
