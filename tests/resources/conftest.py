"""Fixtures for the resource-kind tests: the recorded/reference API objects per kind and a migrated
SQLite database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from app.db.migrate import upgrade

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api"


def load_fixture(kind: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{kind}.json").read_text())


@pytest.fixture(scope="module")
def migrated_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "snap.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()
