"""Helpers for the report cache and rebuilder tests: count computations, wait for rebuilds (by
state, never by sleeping), hold a rebuild at a barrier."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.services import cluster_status as cs
from app.services import resources_monitor as rm
from app.services.cache import Entry, read_basis

WAIT = 120.0  # a guard against a hang, not a timing assertion
DEFAULT_CLUSTER = (cs.NAME, cs.DEFAULT_CRIT, cs.KINDS)
DEFAULT_MONITOR = (rm.NAME, rm.DEFAULTS, rm.KINDS)


@dataclass
class Computations:
    """Every report computation of one context, by where it ran."""

    on_request: list[tuple[str, Hashable]] = field(default_factory=list)
    background: list[tuple[str, Hashable]] = field(default_factory=list)
    rounds: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, name: str, params: Hashable, on_request: bool) -> None:
        (self.on_request if on_request else self.background).append((name, params))


def count_computations(app: Any) -> Computations:
    seen = Computations()
    app.reports.on_compute = seen
    app.warmer.on_round = lambda _computed: seen.rounds.set()
    return seen


async def current_entry(app: Any, seen: Computations, report: tuple[str, Hashable, tuple[str, ...]]) -> Entry:
    """Wait until the rebuilder has brought ``report`` to the data's current basis (without nudging it:
    whatever starts the rebuild is what the test is about)."""
    name, params, kinds = report

    async def wait() -> Entry:
        while True:
            seen.rounds.clear()
            entry = app.reports.entry(name, params)
            if entry is not None and entry.basis.key == (await read_basis(app, kinds)).key:
                return entry
            await seen.rounds.wait()

    return await asyncio.wait_for(wait(), WAIT)


class Barrier:
    """Where a held computation stops (on its read thread): ``await reached()``, then ``release()``."""

    def __init__(self) -> None:
        self.started, self.go = threading.Event(), threading.Event()

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.started.wait, WAIT), "the held computation never started"

    def release(self) -> None:
        self.go.set()


@contextmanager
def held_rebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Barrier]:
    """Computations of the cluster report stop at a barrier until released (released at exit too)."""
    barrier = Barrier()
    real = cs.figures

    def held(*args: Any) -> Any:
        barrier.started.set()
        barrier.go.wait(WAIT)
        return real(*args)

    monkeypatch.setattr(cs, "figures", held)
    try:
        yield barrier
    finally:
        barrier.release()
        monkeypatch.setattr(cs, "figures", real)
