"""Shared fixtures: a simulator on an ephemeral port, an openstacksdk connection to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests import backend


# ----------------------------------------------------------------------------------------------
# The database backend (tests/backend.py): SQLite files, or PostgreSQL with OPS_TEST_DATABASE=postgresql.


def pytest_report_header(config: pytest.Config) -> str:
    return f"database backend: {backend.BACKEND}"


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """PostgreSQL: drop the databases a test created (session fixtures' databases live to the end)."""
    before = set(backend.created_databases())
    yield
    backend.drop_databases([n for n in backend.created_databases() if n not in before])


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh database migrated to head, on the backend under test."""
    return backend.migrated_url(tmp_path / "data" / "snapshot.db")


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Factory: ``sim = make_sim(servers=50, release="train")`` starts a simulator over HTTP on
    127.0.0.1 (stopped at teardown)."""
    started: list[SimulatorServer] = []

    def factory(**kwargs: Any) -> Simulator:
        kwargs.setdefault("servers", 60)
        kwargs.setdefault("transition_seconds", 0.2)
        server = SimulatorServer(Simulator(**kwargs))
        started.append(server)
        return server.start()

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


@pytest.fixture
def conn(sim: Simulator) -> Any:
    """An unmodified openstacksdk connection to the simulator."""
    import openstack

    c = openstack.connect(**sim.connect_kwargs())
    yield c
    c.close()


# ----------------------------------------------------------------------------------------------
# After the whole run: no secret in any snapshot database a test left behind.

SECRET_MARKERS = (
    b"PRIVATE KEY-----",             # generated keypairs (Nova returns them once)
    b'"adminPass"',                  # server create responses
    b'"OS-EXT-SRV-ATTR:user_data"',  # server bodies at 2.3+
    b'"private_key"',
    b'"password"',
    b'"email"',
    b"sim-stack-param-secret",       # the simulator fleet's unhidden Heat parameter (heat_fleet.py)
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan every database file (and WAL) under this run's temporary directory: a secret from the
    simulator's bodies or a management call anywhere fails the run, whichever test wrote it.
    (PostgreSQL: every database is dropped here; the secret checks of tests/sync run on both.)
    Under pytest-xdist the controller scans (the workers' temporary directories are under its own);
    a worker's exit status would not reach the run's anyway."""
    backend.close()
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or exitstatus not in (0, 1) or hasattr(session.config, "workerinput"):
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    leaks: list[str] = []
    for path in base.rglob("*.db*"):
        if not path.is_file() or path.stat().st_size > 512 * 1024 * 1024:
            continue
        data = path.read_bytes()
        leaks += [f"{path}: {m.decode()}" for m in SECRET_MARKERS if m in data]
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("SECRETS FOUND IN TEST DATABASES:\n  " + "\n  ".join(leaks[:50]), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
