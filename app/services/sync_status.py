"""Per-kind freshness and recent sync runs (the get_sync_status tool)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, select

from app.db.bookkeeping import poller_lease, sync_runs
from app.sync.scheduler import lease_name
from app.errors import InvalidArgument
from app.resources.registry import all_specs
from app.services.models import SnapshotInfo, clip


class SyncRunOut(BaseModel):
    aware_datetimes: ClassVar[bool] = True  # built with timezone-aware datetimes (app/tools/base.py utc_aware)

    id: int
    kind: str
    mode: str = Field(description="full, incremental or targeted.")
    status: str = Field(description="running, succeeded, failed, partial or unavailable.")
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    seen: int
    added: int
    changed: int
    tombstoned: int
    error: str | None = None
    request_id: str | None = None


class LeaseOut(BaseModel):
    aware_datetimes: ClassVar[bool] = True

    owner: str = Field(description="host:pid:random of the process that polls.")
    epoch: int = Field(description="Fencing token: goes up each time the lease changes hands.")
    acquired_at: datetime
    expires_at: datetime


class SyncStatus(BaseModel):
    poller_running_here: bool = Field(description="This process runs a poller.")
    poller_leader: bool = Field(description="This process holds the poller lease (it is the one polling).")
    lease: LeaseOut | None = Field(description="Who holds the poller lease of this cloud (None: nobody).")
    writer_blocked_since: datetime | None = Field(
        None, description="Set when this process's snapshot writes time out waiting for the database write lock "
                          "(another process holds it): its writes are not landing since then.")
    poll_intervals: dict[str, float] = Field(description="Poll interval per kind, in seconds.")
    recent_runs: list[SyncRunOut] = Field(description="Most recent sync runs, newest first.")
    snapshot: SnapshotInfo


def _aware(names: tuple[str, ...], row: Sequence[Any]) -> dict[str, Any]:
    """A row's values by column name, its (naive UTC) datetimes made timezone-aware."""
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) and v.tzinfo is None else v
            for k, v in zip(names, row)}


_RUN_FIELDS = tuple(SyncRunOut.model_fields)
_LEASE_FIELDS = tuple(LeaseOut.model_fields)


# Built once (building a statement cost more than running it).
_RUNS = (select(*(sync_runs.c[name] for name in _RUN_FIELDS)).where(sync_runs.c.cloud == bindparam("cloud"))
         .order_by(sync_runs.c.id.desc()).limit(bindparam("runs")))
_RUNS_OF_KIND = _RUNS.where(sync_runs.c.kind == bindparam("kind"))
_LEASE = select(*(poller_lease.c[name] for name in _LEASE_FIELDS)).where(
    poller_lease.c.name == bindparam("lease"), poller_lease.c.owner != "")


async def sync_status(app: object, kind: str | None, runs: int) -> SyncStatus:
    from app.context import AppContext

    assert isinstance(app, AppContext)
    specs = all_specs()
    if kind is not None and kind not in specs:
        raise InvalidArgument(f"Unknown kind {clip(kind)}. Known kinds: {', '.join(specs)}.")
    if not 1 <= runs <= 200:
        raise InvalidArgument("runs must be between 1 and 200.")
    kinds = [kind] if kind else list(specs)
    params = {"cloud": app.cloud_name, "kind": kind, "runs": runs, "lease": lease_name(app.settings)}

    def read(conn: Connection, snap: SnapshotInfo) -> tuple[list[Any], Any, SnapshotInfo]:
        rows = conn.execute(_RUNS_OF_KIND if kind else _RUNS, params).all()
        return rows, conn.execute(_LEASE, params).first(), snap

    # one worker-thread call: runs, lease and freshness in one snapshot (it was a thread hop a statement)
    rows, holder, snap = await app.read(kinds, read, wait=False)
    return SyncStatus(
        poller_running_here=app.poller is not None,
        poller_leader=bool(app.poller and app.poller.is_leader),
        lease=LeaseOut.model_construct(**_aware(_LEASE_FIELDS, holder)) if holder else None,
        writer_blocked_since=app.db.writer_blocked_since,
        poll_intervals={k: app.settings.poll_interval(k, specs[k].poll_interval) for k in kinds},
        recent_runs=[SyncRunOut.model_construct(**_aware(_RUN_FIELDS, r)) for r in rows],  # typed: not validated
        snapshot=snap,
    )
