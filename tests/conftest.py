"""Shared fixtures: a simulator on an ephemeral port, an openstacksdk connection to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer


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
