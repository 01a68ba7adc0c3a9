"""Background tasks owned by the AppContext (follow-up refreshes after a write): tracked so they are
cancelled at shutdown, and their failures logged instead of lost.

A write's snapshot rows can lag behind OpenStack after the call returns: the target is still
transitioning (``wait=false``), or rows that follow it lag on OpenStack's side (Nova shows a server's
old addresses until its network info cache catches up with Neutron). :meth:`BackgroundTasks.follow_up`
refreshes them after each delay of a bounded backoff schedule until a check says the snapshot has
converged, then stops; when the schedule runs out the poller's next sync is the fallback.

Every wait goes through :attr:`BackgroundTasks.sleep` (``asyncio.sleep``): tests replace it to decide
exactly when a follow-up runs, instead of racing it with sleeps of their own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowUp:
    """``step()`` (a targeted refresh) after each of ``delays`` seconds, until ``settled()`` is true."""

    name: str
    step: Callable[[], Awaitable[None]]
    settled: Callable[[], Awaitable[bool]]
    delays: Sequence[float]


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def follow_up(self, f: FollowUp) -> asyncio.Task[bool]:
        """Run ``f`` in the background; the task's result says whether the snapshot converged."""
        return self.spawn(self._follow(f), name=f"followup:{f.name}")

    async def _follow(self, f: FollowUp) -> bool:
        for n, delay in enumerate(f.delays, 1):
            await self.sleep(delay)
            await f.step()
            if await f.settled():
                log.debug("follow-up %s converged after %d refresh(es)", f.name, n)
                return True
        log.info("follow-up %s: the snapshot had not converged after %d refreshes over %.0f s; the poller's next "
                 "sync will catch up", f.name, len(f.delays), sum(f.delays))
        return False

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task %s failed: %s", task.get_name(), task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def join(self) -> None:
        """Wait for every task in flight (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
