"""The poller: APScheduler 3 ``AsyncIOScheduler`` jobs that keep the snapshot fresh, only while this
process holds the poller lease.

Jobs: ``lease`` (every ``lease_renew_interval``: take or renew the lease; on taking it, schedule the
sync jobs; on losing it, remove them), one ``sync:<kind>`` job per kind (its poll interval; servers
run incremental with periodic full reconciles, see ``SyncService.poll``), and ``retention``. All jobs
use ``coalesce=True, max_instances=1`` and sync jobs get jitter. :meth:`Poller._guarded` is the one
place that catches every exception: it logs, remembers the error and keeps the poller alive (OpenStack
failures are already recorded in ``sync_runs`` by the service).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.config import Settings
from sqlalchemy.exc import OperationalError

from app.db.engine import Database, is_lock_timeout
from app.sync.lease import Lease
from app.sync.service import SyncService

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0
STOP_WAIT = 30.0  # seconds stop() waits for running jobs to end
MAX_JITTER = 30.0


def lease_name(settings: Settings) -> str:
    return f"poller:{settings.cloud_name}"


class Poller:
    """``await poller.start()`` in the server's lifespan, ``await poller.stop()`` at shutdown."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        service: SyncService,
        *,
        kinds: Iterable[str] | None = None,
        lease: Lease | None = None,
        on_leader_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.service = service
        self.kinds = list(kinds) if kinds is not None else list(service.specs)
        self.lease = lease or Lease(db, lease_name(settings), settings.lease_ttl)
        self.on_leader_change = on_leader_change
        self.is_leader = False
        self.job_errors: dict[str, str] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def owner(self) -> str:
        return self.lease.owner

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=timezone.utc)
        self._scheduler.add_job(
            self._guarded, IntervalTrigger(seconds=self.settings.lease_renew_interval),
            args=["lease", self._lease_tick], id="lease", coalesce=True, max_instances=1,
            next_run_time=datetime.now(timezone.utc),
        )
        self._scheduler.start()

    async def stop(self) -> None:
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # cancels the jobs running now
            self._scheduler = None
        # Let them unwind before writing anything: a lease tick cancelled inside its transaction is still
        # rolling back (or closing its connection) on its own connection, and would hold SQLite's write
        # lock against cancel_all's record of the cancelled runs (a "database is locked" after 10 s).
        jobs = [t for t in self._jobs if t is not asyncio.current_task()]
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=STOP_WAIT)
            if late:
                log.warning("poller stop: %d job(s) still running after %.0f s", len(late), STOP_WAIT)
        await self.service.cancel_all()
        if self.is_leader:
            await self.lease.release()
            self.service.fence = None
            self._set_leader(False)

    # --- jobs -------------------------------------------------------------------------------
    async def _guarded(self, name: str, fn: Callable[[], Awaitable[Any]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            await fn()
            self.job_errors.pop(name, None)
        except asyncio.CancelledError:
            # stop() cancelled it, or the sync it awaited was cancelled because the lease moved
            # (cancel_all: already said in one WARNING line): not a job failure. Only a cancellation
            # of this job's own task propagates.
            if self._stopping or (task is not None and not task.cancelling()):
                return
            raise
        except Exception as e:  # noqa: broad - the job wrapper: record, keep the poller alive
            if is_lock_timeout(e):
                # Database.writer_blocked_since already says so (readiness, get_sync_status): one line.
                self.job_errors[name] = "database write lock held by another process"
                log.warning("poller job %s: the database write lock is held by another process", name)
                return
            self.job_errors[name] = f"{type(e).__name__}: {e}"
            log.exception("poller job %s failed", name)
        finally:
            if task is not None:
                self._jobs.discard(task)

    async def _lease_tick(self) -> None:
        try:
            held = await self.lease.acquire()
        except OperationalError as e:
            if not is_lock_timeout(e):
                raise
            # Another process holds the database's write lock (e.g. stopped mid-transaction): nothing
            # to do but try again next tick; our own writes are fenced if the lease moves meanwhile.
            log.warning("poller lease %s not renewed: the database write lock is held elsewhere", self.lease.name)
            return
        fence = self.lease.fence()
        tenure_changed = fence != self.service.fence
        self.service.fence = fence
        if held and (not self.is_leader or tenure_changed):
            log.info("poller lease %s taken by %s (epoch %s)", self.lease.name, self.owner, self.lease.epoch)
            abandoned = await self.service.runs.abandon_running(fence=fence)
            if abandoned:
                log.info("marked %d runs of a previous poller as failed", abandoned)
            if not self.is_leader:
                self.service.reopen()
                self._schedule_syncs()
                self._set_leader(True)
        elif not held and self.is_leader:
            log.warning("poller lease %s lost to another process; this one stops polling", self.lease.name)
            self._unschedule_syncs()
            self._set_leader(False)
            await self.service.cancel_all()

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        if self.on_leader_change is not None:
            self.on_leader_change(value)

    def _schedule_syncs(self) -> None:
        assert self._scheduler is not None
        now = datetime.now(timezone.utc)
        for kind in self.kinds:
            interval = self.settings.poll_interval(kind, self.service.spec(kind).poll_interval)
            self._scheduler.add_job(
                self._guarded, IntervalTrigger(seconds=interval, jitter=min(MAX_JITTER, interval * 0.1)),
                args=[f"sync:{kind}", lambda kind=kind: self.service.poll(kind)], id=f"sync:{kind}",
                coalesce=True, max_instances=1, next_run_time=now, replace_existing=True,
            )
        self._scheduler.add_job(
            self._guarded, IntervalTrigger(seconds=RETENTION_INTERVAL), args=["retention", self.service.purge],
            id="retention", coalesce=True, max_instances=1, replace_existing=True,
        )

    def _unschedule_syncs(self) -> None:
        if self._scheduler is None:
            return
        for job in self._scheduler.get_jobs():
            if job.id != "lease":
                job.remove()
