"""tests/postgres: what only PostgreSQL deployments need (several replicas on one database, pg_trgm
search, the asyncpg-only CLI) and the same answers on both backends. Marked ``postgres`` (left out of
the default run by addopts); they run in the PostgreSQL leg of .ci/run:

    OPS_TEST_DATABASE=postgresql python -m pytest -m postgres tests/postgres
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import backend

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="PostgreSQL tests: run with OPS_TEST_DATABASE=postgresql")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.postgres)
            if not backend.POSTGRES:
                item.add_marker(skip)
