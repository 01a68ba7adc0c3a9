"""SyncService: full sync, incremental sync (Nova ``changes-since``), targeted refresh, retention.

Every run is recorded in ``sync_runs``. The **tombstone rule**: rows are tombstoned only after a
complete, error-free listing; when a listing fails part-way the pages already written stay (they are
real data), nothing is tombstoned and the run is ``failed``. A 403 makes the run ``unavailable``
(credentials lack the role for that kind) without affecting other kinds.

One run per kind at a time: a per-kind lock serialises runs; asking for a run of the same kind and
mode while one is in progress returns that run's result instead of starting another.

**Races.** Full, incremental and targeted runs of one kind may overlap (a write-through refresh
during a full listing, another process's refresh, a former lease holder still running): every write
carries the time OpenStack was asked, and the writer never lets an older observation overwrite a
newer one (app/db/writer.py); a full run tombstones only rows neither it nor anyone else observed
since its listing began. Runs of the poller carry its lease :attr:`fence`: once another process
holds the lease they write nothing more (one WARNING line, the run is left to the new holder).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.cloud.connection import CloudClient, http_status, request_id_of
from app.cloud.pager import get_observed, iter_pages
from app.config import Settings
from app.db import changelog
from app.db.engine import Database, utcnow
from app.db.fence import Fence, LeaseLost
from app.db.prepare import prepare_page
from app.db.writer import PageCounts, SnapshotWriter
from app.errors import NotPermitted, OpsError, ServiceNotOffered
from app.resources.base import Listing, ResourceSpec
from app.resources.registry import all_specs
from app.sync.runs import FAILED, FULL, INCREMENTAL, SUCCEEDED, TARGETED, UNAVAILABLE, RunLog, SyncResult

log = logging.getLogger(__name__)

# Nova's changes-since protocol: the filter parameter, and how a deleted server is reported.
CHANGES_SINCE_PARAM = "changes-since"
INCREMENTAL_MARGIN = timedelta(seconds=60)


def iso_z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class SyncService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        cloud: CloudClient,
        *,
        specs: Mapping[str, ResourceSpec] | None = None,
        observer: Any = None,
    ) -> None:
        self.settings = settings
        # Told about every recorded poller run: ``observer.sync_finished(result)`` (the server's metrics,
        # passed down by app.context; this layer imports nothing above it).
        self.observer = observer
        self.db = db
        self.cloud = cloud
        self.cloud_name = settings.cloud_name
        self.specs: Mapping[str, ResourceSpec] = specs if specs is not None else all_specs()
        self.writer = SnapshotWriter(db)
        self.runs = RunLog(db, settings.cloud_name)
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[SyncResult]] = {}
        self._analyzed_at_size: dict[str, int] = {}
        self._closed = False
        # The poller's lease tenure (set by app.sync.scheduler.Poller while it holds the lease): full
        # and incremental runs write only while it holds. None: unfenced (sync-once, tests).
        self.fence: Fence | None = None
        self._watched: set[str] = set()  # kinds synced successfully before: their changes are logged
        # Told when a run's outcome is recorded (its writes committed): ``on_run_end(result)``. The
        # server's report rebuilder (app.context) starts rebuilding from it.
        self.on_run_end: Callable[[SyncResult], None] | None = None

    # --- public API ----------------------------------------------------------------------------
    def spec(self, kind: str) -> ResourceSpec:
        try:
            return self.specs[kind]
        except KeyError:
            raise KeyError(f"unknown kind {kind!r}; known: {', '.join(self.specs)}") from None

    async def full_sync(self, kind: str) -> SyncResult:
        """List ``kind`` completely, upsert page by page, then tombstone what the listing lacked."""
        return await self._exclusive(kind, FULL, self._full)

    async def incremental_sync(self, kind: str = "servers") -> SyncResult:
        """Changes since the last successful run (minus a safety margin); deleted entries are
        tombstoned. Falls back to a full sync when none succeeded yet, when the last full one is older
        than ``full_reconcile_interval``, or when the kind has no incremental listing."""
        return await self._exclusive(kind, INCREMENTAL, self._incremental)

    async def poll(self, kind: str) -> SyncResult:
        """What the scheduler runs: incremental for incremental kinds, full otherwise."""
        if self.spec(kind).incremental:
            return await self.incremental_sync(kind)
        return await self.full_sync(kind)

    async def sync_all(self, kinds: Iterable[str] | None = None) -> dict[str, SyncResult]:
        """Full sync of ``kinds`` (default: every kind), concurrently within the SDK limit."""
        names = list(kinds) if kinds is not None else list(self.specs)
        results = await asyncio.gather(*(self.full_sync(k) for k in names))
        return dict(zip(names, results))

    async def refresh(self, kind: str, ids: Sequence[str]) -> SyncResult:
        """Targeted refresh (write-through): GET each id; upsert what exists, tombstone 404s.

        Recorded as a ``targeted`` run; an OpenStack failure is recorded and re-raised."""
        spec = self.spec(kind)
        result = await self.runs.start(kind, TARGETED)
        ids = list(dict.fromkeys(ids))
        result.details = {"ids": ids[:50]}
        try:
            got = await asyncio.gather(*(get_observed(self.cloud, spec, i) for i in ids))
            found = [raw for raw, _ in got if raw is not None]
            gone = [i for i, (raw, _) in zip(ids, got) if raw is None]
            run_id = self._run_id(result)
            log = await self._log_changes(kind)
            if found:
                # One write: stamped with the earliest of its GETs (an older stamp only ever loses).
                observed = min(at for raw, at in got if raw is not None)
                counts = await self.writer.upsert_page(spec, self.cloud_name, found, run_id, utcnow(),
                                                       observed_at=observed, log_changes=log)
                self._add(result, counts)
            if gone:
                result.tombstoned += await self.writer.mark_deleted(
                    spec, self.cloud_name, gone, utcnow(), sync_id=run_id,
                    observed_at=min(at for raw, at in got if raw is None), log_changes=log)
            result.status = SUCCEEDED
        except OpsError as e:
            self._failed(result, e)
            await self.runs.finish(result)
            self._ended(result)
            raise
        await self.runs.finish(result)
        self._ended(result)
        return result

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Retention: drop tombstones and sync runs older than their retention periods."""
        now = now or utcnow()
        cutoff = now - timedelta(days=self.settings.tombstone_retention_days)
        out = {k: await self.writer.purge_tombstones(s, self.cloud_name, cutoff, fence=self.fence)
               for k, s in self.specs.items()}
        out["sync_runs"] = await self.runs.purge(now - timedelta(days=self.settings.sync_run_retention_days))
        async with self.db.writer(self.fence) as conn:
            out["snapshot_changes"] = await changelog.purge(
                conn, self.cloud_name, now - timedelta(days=self.settings.change_retention_days))
        return out

    async def _maybe_analyze(self, spec: ResourceSpec, size: int) -> None:
        """Refresh the query planner's statistics for a kind whose size moved a lot since this process
        last did (or never did): without them SQLite picks the (cloud, deleted_at) index for keyed
        lookups and reads every row (67 ms instead of 0.4 ms at 50k servers)."""
        before = self._analyzed_at_size.get(spec.kind)
        if before is not None and abs(size - before) <= max(100, before // 5):
            return
        await self.writer.analyze(spec)
        self._analyzed_at_size[spec.kind] = size

    def running(self) -> list[tuple[str, str]]:
        """(kind, mode) of runs in progress in this process."""
        return list(self._inflight)

    async def cancel_all(self) -> None:
        """Cancel runs in progress (shutdown); their rows are recorded as failed."""
        self._closed = True  # no new runs from jobs still unwinding
        while self._inflight:
            tasks = list(self._inflight.values())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.runs.close_open("cancelled: this process stopped polling mid-run")

    def reopen(self) -> None:
        """Allow runs again after cancel_all (a poller that regains the lease)."""
        self._closed = False

    # --- internals ----------------------------------------------------------------------------
    async def _exclusive(self, kind: str, mode: str, fn: Callable[[str], Awaitable[SyncResult]]) -> SyncResult:
        self.spec(kind)
        if self._closed:  # polling stopped (targeted refreshes do not come through here)
            raise asyncio.CancelledError(f"sync of {kind} refused: this process stopped polling")
        key = (kind, mode)
        task = self._inflight.get(key)
        if task is None:
            lock = self._locks.setdefault(kind, asyncio.Lock())

            async def locked() -> SyncResult:
                async with lock:
                    try:
                        return await fn(kind)
                    except LeaseLost as e:  # the run could not even be recorded as started
                        return self._lease_lost(SyncResult(kind=kind, mode=mode), e)

            task = asyncio.get_running_loop().create_task(locked(), name=f"sync:{kind}:{mode}")
            self._inflight[key] = task
            task.add_done_callback(lambda _t, key=key: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    def _ended(self, result: SyncResult) -> None:
        if self.on_run_end is not None:
            self.on_run_end(result)

    @staticmethod
    def _run_id(result: SyncResult) -> int:
        assert result.run_id is not None
        return result.run_id

    @staticmethod
    def _add(result: SyncResult, counts: PageCounts) -> None:
        result.seen += counts.seen
        result.added += counts.added
        result.changed += counts.changed
        result.tombstoned += counts.tombstoned

    def _failed(self, result: SyncResult, err: BaseException) -> None:
        status = http_status(err)
        result.status = UNAVAILABLE if status == 403 or isinstance(err, ServiceNotOffered) else FAILED
        result.error = str(err)
        result.request_id = request_id_of(err)
        log.warning("%s %s sync %s: %s", result.kind, result.mode, result.status, err)

    async def _recorded(self, result: SyncResult, body: Callable[[], Awaitable[None]]) -> SyncResult:
        """Run ``body`` and record the outcome; OpenStack errors end the run, others propagate after
        being recorded."""
        try:
            await body()
            result.status = SUCCEEDED
        except OpsError as e:
            self._failed(result, e)
        except LeaseLost as e:
            return self._lease_lost(result, e)
        except (SQLAlchemyError, asyncio.CancelledError) as e:
            result.status = FAILED
            result.error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            try:
                await asyncio.shield(self.runs.finish(result))
            except LeaseLost:
                pass
            raise
        try:
            await self.runs.finish(result)
        except LeaseLost as e:
            return self._lease_lost(result, e)
        self._ended(result)
        if result.ok:
            await self._followups(self.spec(result.kind))
        if self.observer is not None:
            self.observer.sync_finished(result)
        log.info("%s %s sync %s: seen=%d added=%d changed=%d tombstoned=%d in %.2fs", result.kind, result.mode,
                 result.status, result.seen, result.added, result.changed, result.tombstoned, result.duration_s)
        return result

    async def _log_changes(self, kind: str) -> bool:
        """Whether writes of ``kind`` go to the change log: not during its first successful sync (its
        rows were not created then; we started watching)."""
        if kind not in self._watched and await self.runs.last_success(kind, [FULL, INCREMENTAL]) is not None:
            self._watched.add(kind)
        return kind in self._watched

    async def _followups(self, spec: ResourceSpec) -> None:
        """Refresh the rows other kinds' listings report late or never (``ResourceSpec.followups``:
        e.g. servers whose addresses disagree with the floating IPs just synced). A failure is logged;
        the next run of the kind tries again."""
        for follow in spec.followups:
            if self._closed:  # polling stopped (shutdown, lease lost): the next holder's sync does it
                return
            async with self.db.reader() as conn:
                ids = [str(i) for i in (await conn.execute(follow.ids(self.cloud_name).limit(follow.limit))).scalars()
                       if i]
            if not ids:
                continue
            log.info("%s sync: refreshing %d %s out of step with it", spec.kind, len(ids), follow.kind)
            try:
                await self.refresh(follow.kind, ids)
            except OpsError as e:
                log.warning("%s follow-up refresh of %s failed: %s", spec.kind, follow.kind, e)

    def _lease_lost(self, result: SyncResult, err: LeaseLost) -> SyncResult:
        """A run whose process lost the poller lease: nothing more was written; its row is the new
        holder's to close. One WARNING line, no traceback."""
        self.runs.forget(result)
        result.status = FAILED
        result.error = f"lease lost: {err}"
        log.warning("%s %s sync stopped: %s", result.kind, result.mode, err)
        return result

    async def _start_polled(self, kind: str, mode: str) -> tuple[SyncResult, Fence | None]:
        """Start a poller run under the current lease tenure (LeaseLost: not started, see _exclusive)."""
        fence = self.fence
        return await self.runs.start(kind, mode, fence=fence), fence

    async def _write_listing(self, spec: ResourceSpec, listing: Listing, result: SyncResult, run_id: int,
                             fence: Fence | None, log: bool, *, extra_params: Mapping[str, str] | None = None) -> None:
        """Write every page of ``listing``, each prepared during the previous page's write."""
        async with aclosing(iter_pages(self.cloud, listing, page_size=self.settings.page_size,
                                       extra_params=extra_params, id_key=spec.id_key,
                                       prepare=partial(prepare_page, spec))) as pages:
            async for page in pages:
                self._add(result, await self.writer.upsert_page(
                    spec, self.cloud_name, (), run_id, utcnow(), observed_at=page.observed_at, fence=fence,
                    log_changes=log, prepared=page.prepared))
                result.details["pages"] = page.number

    async def _full(self, kind: str) -> SyncResult:
        spec = self.spec(kind)
        result, fence = await self._start_polled(kind, FULL)
        run_id = self._run_id(result)

        async def body() -> None:
            mv = await self.cloud.microversion(spec.listing.service, spec.listing.microversion)
            result.details = {"pages": 0, "microversion": mv, "page_size": self.settings.page_size}
            log = await self._log_changes(kind)
            listed_since = utcnow()

            listing = spec.listing
            try:
                await self._write_listing(spec, listing, result, run_id, fence, log)
            except NotPermitted as e:
                if listing.forbidden_fallback is None or result.details["pages"] or http_status(e) != 403:
                    raise
                listing = dataclasses.replace(listing, params=dict(listing.forbidden_fallback))
                result.details["scope"] = f"own scope only: the cloud refused {dict(spec.listing.params)} ({e})"
                await self._write_listing(spec, listing, result, run_id, fence, log)
            result.tombstoned += await self.writer.tombstone_missing(
                spec, self.cloud_name, run_id, utcnow(), listed_since=listed_since, fence=fence, log_changes=log)
            await self._maybe_analyze(spec, result.seen)

        return await self._recorded(result, body)

    async def _incremental(self, kind: str) -> SyncResult:
        spec = self.spec(kind)
        last_full = await self.runs.last_success(kind, [FULL])
        if (
            not spec.incremental
            or last_full is None
            or (utcnow() - last_full).total_seconds() >= self.settings.full_reconcile_interval
        ):
            return await self._full(kind)
        last = await self.runs.last_success(kind, [FULL, INCREMENTAL]) or last_full
        since = iso_z(last - INCREMENTAL_MARGIN)
        result, fence = await self._start_polled(kind, INCREMENTAL)
        run_id = self._run_id(result)
        result.details = {"since": since, "pages": 0}

        async def body() -> None:
            log = await self._log_changes(kind)
            # Deleted servers come back as DELETED entries: the kind's ``gone`` predicate tombstones them.
            await self._write_listing(spec, spec.listing, result, run_id, fence, log,
                                      extra_params={CHANGES_SINCE_PARAM: since})

        return await self._recorded(result, body)
