"""The background rebuilder of reports and hot match sets: every process serving tools runs one
(owned by :class:`app.context.AppContext`), so no request pays for a whole-fleet report.

One asyncio task, one round at a time. A round brings the default reports (get_cluster_status,
monitor_resources) and get_clouds' totals to the current basis (:mod:`app.services.cache`) and, on SQLite, computes the
ordered match sets requests page through (get_instances_by_status for every status present, the whole
fleet by name), each only when its data moved. Rounds start:

* right away at the end of every sync run of this process (the poller, and the write-through
  refreshes after management operations; see ``SyncService.on_run_end``), unless other runs of this
  process are still writing (a first sync of every kind): the last of them to end starts it;
* when the watched basis (data versions and sync states of every kind the round reads, one small read
  every ``interval`` seconds) has moved and settled (unchanged since the previous look), or has kept
  moving for ``max_lag`` seconds: replicas that do not poll, and another process's writes, are seen
  this way, and a long first sync is summarised every ``max_lag`` seconds instead of after every page;
* when a request found a report of an older basis (nudge): the same rule as a look at the data.

A round ends by computing again the kept answers asked for recently whose data or sync state moved
(:meth:`app.services.answer_cache.AnswerCache.rewarm`), so the first call after a sync finds them ready;
a run of this process that ended without moving the reports' basis (e.g. an unchanged re-sync, which
still moves its kind's ``as_of``) does the same without a round.

A failing round is logged (one line per distinct error) and retried at the next look. :meth:`stop`
cancels a round in progress without a traceback (a read already on its worker thread finishes there;
``Database.dispose`` waits for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING

from sqlalchemy import select

from app.resources.servers import table as servers
from app.services import clouds, cluster_status, instances, resources_monitor
from app.services.cache import read_basis
from app.services.query import live

if TYPE_CHECKING:
    from app.context import AppContext
    from app.sync.runs import SyncResult

log = logging.getLogger(__name__)

WATCH_INTERVAL = 2.0  # seconds between looks at the data version
MAX_LAG = 30.0  # seconds a moving basis may go without a rebuild
REPORTS: tuple[Callable[[AppContext], Awaitable[bool]], ...] = (cluster_status.rebuild, resources_monitor.rebuild,
                                                                 clouds.warm)
WATCHED = tuple(dict.fromkeys((*cluster_status.KINDS, *resources_monitor.KINDS, *instances.KINDS, *clouds.KINDS)))


async def warm_match_sets(app: AppContext) -> int:
    """Compute the ordered instance match sets of the current data version that requests page through:
    every status present and the whole fleet by name (SQLite only: PostgreSQL pages in SQL). Asks the
    same questions a request would, one row each; returns how many sets were computed."""
    if app.db.dialect_name != "sqlite":
        return 0
    stmt = select(servers.c.status).where(live(servers, app.cloud_name)).group_by(servers.c.status)
    missing, present = await app.read(instances.KINDS, lambda conn, snap: (
        snap.missing, [st for (st,) in conn.execute(stmt)]), wait=False)
    if missing:
        return 0
    before = app.orders.misses
    await instances.instance_details(app, "", "", True, 1, 0, False, "brief")
    for st in present:
        if st in instances.NOVA_STATUSES:
            await instances.by_status(app, st, 1, 0)
    return app.orders.misses - before


class ReportWarmer:
    """``start(app)`` once the context exists, ``nudge()`` when data may have moved, ``await stop()``."""

    def __init__(self, interval: float = WATCH_INTERVAL, max_lag: float = MAX_LAG) -> None:
        self.interval = interval
        self.max_lag = max_lag
        self.rounds = 0  # rounds that computed something
        self.built: Hashable | None = None  # the watched basis the last round brought everything to
        # Called after every round with whether it computed anything (tests wait on it, metrics may count).
        self.on_round: Callable[[bool], None] | None = None
        self._wake = asyncio.Event()
        self._urgent = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_error: str | None = None
        self._seen: Hashable | None = None  # the watched basis at the previous look
        self._moving_since: float | None = None
        self._ended: set[str] = set()  # kinds whose runs ended since the previous look

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopping

    def start(self, app: AppContext) -> None:
        app.reports.rebuilder = self
        self._task = asyncio.get_running_loop().create_task(self._run(app), name="report-warmer")

    def nudge(self, urgent: bool = False) -> None:
        """Look at the data now; ``urgent`` (a sync run ended here): rebuild now if it moved."""
        self._urgent = self._urgent or urgent
        self._wake.set()

    def run_ended(self, result: SyncResult) -> None:
        """``SyncService.on_run_end``: a run of this process committed (or failed: states may have moved)."""
        self._ended.add(result.kind)
        self.nudge(urgent=True)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self, app: AppContext) -> None:
        urgent = True  # the first look builds whatever the data holds
        while not self._stopping:
            await self._look(app, urgent)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            urgent, self._urgent = self._urgent, False

    async def _look(self, app: AppContext, urgent: bool) -> None:
        # Runs still writing in this process (sync_all, the poller's first round): the last one to end
        # starts the rebuild, not each of them.
        busy = {k for k, _ in app.sync.running()} - self._ended  # still writing (ended ones are finishing)
        if urgent and busy:
            urgent = False
        self._ended.clear()
        try:
            basis = (await read_basis(app, WATCHED)).key
            if basis == self.built:
                self._moving_since = None
                if urgent:  # a run ended without moving the reports: kept answers may still have (as_of)
                    await app.answers.rewarm(app, app.settings.answer_rewarm, busy)
            else:
                now = time.monotonic()
                if self._moving_since is None:
                    self._moving_since = now
                if urgent or basis == self._seen or now - self._moving_since >= self.max_lag:
                    computed = await self._round(app, busy)
                    self.built, self._moving_since = basis, None
                    self._last_error = None
                    if computed:
                        self.rounds += 1
                    if self.on_round is not None:
                        self.on_round(computed)
            self._seen = basis
        except Exception as e:  # noqa: broad - the background job wrapper: log, serve what exists, retry later
            if self._stopping:
                return
            text = f"{type(e).__name__}: {e}"
            if text != self._last_error:
                log.warning("report rebuild failed (retried at the next look at the data): %s", text, exc_info=True)
            self._last_error = text

    async def _round(self, app: AppContext, busy: set[str]) -> bool:
        computed = False
        for rebuild in REPORTS:
            computed = await rebuild(app) or computed
        computed = bool(await warm_match_sets(app)) or computed
        # then the kept answers people asked for recently (app.services.answer_cache), on the new data
        return bool(await app.answers.rewarm(app, app.settings.answer_rewarm, busy)) or computed
