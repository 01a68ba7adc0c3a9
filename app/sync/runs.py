"""Recording sync runs in ``sync_runs`` (freshness is read from here) and the result type of a run."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from app.db.bookkeeping import sync_runs, sync_state
from app.db.engine import Database, dialect_insert, utcnow
from app.db.fence import Fence, LeaseLost

RUNNING, SUCCEEDED, FAILED, PARTIAL, UNAVAILABLE = "running", "succeeded", "failed", "partial", "unavailable"
FULL, INCREMENTAL, TARGETED = "full", "incremental", "targeted"
# A targeted (write-through) run still 'running' after this long belongs to a process that died.
TARGETED_ABANDON_AFTER = timedelta(minutes=10)

_SECRET_PATTERNS = (
    re.compile(r"(?i)(x-auth-token|x-subject-token|authorization)(\s*[:=]\s*)(\S+)"),
    re.compile(r"(?i)([\"']?(?:password|passwd|secret|token|adminpass|private_key)[\"']?)(\s*[:=]\s*)([\"']?)[^\s\"',}&]+"),
)


def redact(text: str | None, limit: int = 2000) -> str | None:
    """Error text safe to store: credentials-like values masked, length bounded."""
    if text is None:
        return None
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return text[:limit]


@dataclass
class SyncResult:
    """The outcome of one run, as recorded in ``sync_runs`` (``run_id``) and returned to callers."""

    kind: str
    mode: str
    status: str = RUNNING
    run_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float = 0.0
    seen: int = 0
    added: int = 0
    changed: int = 0
    tombstoned: int = 0
    error: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunLog:
    """Start/finish rows in ``sync_runs`` for one cloud label.

    A poller run is started with its lease :class:`~app.db.fence.Fence`: its row is written, and its
    outcome recorded, only while that lease tenure holds. A run's row is finished once, by whoever
    finishes it first: the run itself, or a new lease holder abandoning it (``abandon_running``); a
    late finish of an abandoned run changes nothing."""

    def __init__(self, db: Database, cloud: str) -> None:
        self.db = db
        self.cloud = cloud
        # Runs this process started and has not finished, and starts still being written: on shutdown
        # close_open() records them failed, so no row is left 'running' by a cancelled task.
        self._open: dict[int, SyncResult] = {}
        self._fences: dict[int, Fence | None] = {}
        self._starting: set[asyncio.Future[SyncResult]] = set()

    async def start(self, kind: str, mode: str, now: datetime | None = None, *,
                    fence: Fence | None = None) -> SyncResult:
        # Shielded: a cancellation arriving mid-insert still lets the row be registered in _open.
        fut = asyncio.ensure_future(self._start(kind, mode, now or utcnow(), fence))
        self._starting.add(fut)
        fut.add_done_callback(self._started)
        return await asyncio.shield(fut)

    def _started(self, fut: asyncio.Future[SyncResult]) -> None:
        self._starting.discard(fut)
        if not fut.cancelled():
            fut.exception()  # retrieved: a caller cancelled meanwhile (lease lost, stop) has already moved on

    async def _start(self, kind: str, mode: str, now: datetime, fence: Fence | None) -> SyncResult:
        async with self.db.writer(fence) as conn:
            res = await conn.execute(
                insert(sync_runs).values(cloud=self.cloud, kind=kind, mode=mode, status=RUNNING, started_at=now,
                                         seen=0, added=0, changed=0, tombstoned=0)
            )
            run_id = int(res.inserted_primary_key[0])
        result = SyncResult(kind=kind, mode=mode, run_id=run_id, started_at=now)
        self._open[run_id] = result
        self._fences[run_id] = fence
        return result

    async def close_open(self, reason: str) -> int:
        """Record every run this process started and did not finish as failed (after cancellation).
        Runs of a lease tenure that has ended are left to the new holder (it abandons them)."""
        if self._starting:
            await asyncio.gather(*self._starting, return_exceptions=True)
        left = list(self._open.values())
        for result in left:
            result.status, result.error = FAILED, reason
            try:
                await self.finish(result)
            except LeaseLost:
                pass
        return len(left)

    def forget(self, result: SyncResult) -> None:
        """Drop a run without recording it (its lease tenure ended: the new holder records it)."""
        if result.run_id is not None:
            self._open.pop(result.run_id, None)
            self._fences.pop(result.run_id, None)

    async def finish(self, result: SyncResult) -> None:
        """Record the run's outcome (raises LeaseLost, recording nothing, if its lease tenure ended)."""
        fence = self._fences.get(result.run_id) if result.run_id is not None else None
        result.finished_at = result.finished_at or utcnow()
        if result.started_at is not None:
            result.duration_s = (result.finished_at - result.started_at).total_seconds()
        result.error = redact(result.error)
        async with self.db.writer(fence) as conn:
            res = await conn.execute(
                update(sync_runs).where(sync_runs.c.id == result.run_id, sync_runs.c.status == RUNNING).values(
                    status=result.status, finished_at=result.finished_at, duration_s=result.duration_s,
                    seen=result.seen, added=result.added, changed=result.changed, tombstoned=result.tombstoned,
                    error=result.error, request_id=result.request_id, details=result.details or None,
                )
            )
            if res.rowcount and result.mode in (FULL, INCREMENTAL):
                await self._record_state(conn, result.kind, result.status, result.error, result.finished_at,
                                         result.run_id)
        # Forgotten only once recorded: a finish cancelled mid-write is still closed by close_open().
        self.forget(result)
        self._forget_state()

    def _forget_state(self) -> None:
        """Drop this process's cached sync_state rows (app.sync.freshness) once a change is committed."""
        self.db.__dict__.pop("_sync_state_cache", None)

    async def _record_state(self, conn: Any, kind: str, status: str, error: str | None, finished_at: datetime,
                            run_id: int | None) -> None:
        """Keep ``sync_state`` (what freshness reads) in step with the run just finished. Callers drop
        the process's freshness cache after their transaction commits (``_forget_state``)."""
        values: dict[str, Any] = {"last_status": status, "last_error": None if status == SUCCEEDED else error,
                                  "last_finished_at": finished_at, "last_run_id": run_id}
        if status == SUCCEEDED:
            values["last_success_at"] = finished_at
        stmt = dialect_insert(self.db.dialect_name, sync_state).values(cloud=self.cloud, kind=kind, **values)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[sync_state.c.cloud, sync_state.c.kind], set_=values))

    async def last_success(self, kind: str, modes: Sequence[str]) -> datetime | None:
        """``started_at`` of the newest succeeded run of ``kind`` in one of ``modes``."""
        async with self.db.reader() as conn:
            return (await conn.execute(
                select(func.max(sync_runs.c.started_at)).where(
                    sync_runs.c.cloud == self.cloud, sync_runs.c.kind == kind,
                    sync_runs.c.status == SUCCEEDED, sync_runs.c.mode.in_(list(modes)),
                )
            )).scalar()

    async def abandon_running(self, reason: str = "abandoned: the poller process stopped mid-run", *,
                              fence: Fence | None = None) -> int:
        """Mark this cloud's ``running`` full/incremental rows failed (called by a new lease holder under
        its ``fence``: nobody runs them any more). Targeted runs (write-through refreshes of any
        process) are not the poller's: only those running longer than ``TARGETED_ABANDON_AFTER`` (their
        process died) are closed."""
        now = utcnow()
        orphaned = or_(sync_runs.c.mode.in_([FULL, INCREMENTAL]), sync_runs.c.started_at < now - TARGETED_ABANDON_AFTER)
        async with self.db.writer(fence) as conn:
            running = (await conn.execute(
                select(sync_runs.c.id, sync_runs.c.kind, sync_runs.c.mode).where(
                    sync_runs.c.cloud == self.cloud, sync_runs.c.status == RUNNING, orphaned).order_by(sync_runs.c.id)
            )).all()
            res = await conn.execute(
                update(sync_runs).where(sync_runs.c.cloud == self.cloud, sync_runs.c.status == RUNNING, orphaned)
                .values(status=FAILED, finished_at=now, error=reason)
            )
            for run_id, kind, mode in running:
                if mode in (FULL, INCREMENTAL):
                    await self._record_state(conn, kind, FAILED, reason, now, run_id)
            count = int(res.rowcount or 0)
        self._forget_state()
        return count

    async def purge(self, older_than: datetime) -> int:
        """Retention: delete finished runs started before ``older_than``, keeping each kind's newest
        succeeded full/incremental run (freshness needs it)."""
        keep = (
            select(func.max(sync_runs.c.id)).where(
                sync_runs.c.cloud == self.cloud, sync_runs.c.status == SUCCEEDED,
                sync_runs.c.mode.in_([FULL, INCREMENTAL]),
            ).group_by(sync_runs.c.kind, sync_runs.c.mode)
        )
        async with self.db.writer() as conn:
            res = await conn.execute(
                delete(sync_runs).where(
                    sync_runs.c.cloud == self.cloud, sync_runs.c.started_at < older_than,
                    sync_runs.c.status != RUNNING, sync_runs.c.id.not_in(keep),
                )
            )
            return int(res.rowcount or 0)
