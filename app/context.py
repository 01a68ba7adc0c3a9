"""The typed lifespan context every tool receives: settings, database, cloud client, sync service,
poller and metrics, plus the readiness and snapshot-metrics views the HTTP probes use."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select

from app.cloud.connection import CloudClient
from app.cloud.identity import identity_of
from app.config import Settings
from app.db.clouds import bind_label
from app.db.engine import Database, prepare_database
from app.metrics import KindSample, Metrics, SnapshotSample
from app.resources.registry import all_specs
from app.services.cache import OrderCache, ReportCache
from app.services.completeness import readiness_reasons
from app.services.report_warmer import ReportWarmer
from app.services.operations.background import BackgroundTasks
from app.services.models import KindFreshness as KindFreshnessOut
from app.services.models import SnapshotInfo
from app.sync import freshness as fresh
from app.sync.scheduler import Poller
from app.sync.service import SyncService

log = logging.getLogger(__name__)

R = TypeVar("R")

# Kinds whose absence makes the server not ready (the rest may be unavailable to non-admin users).
CORE_KINDS = ("servers", "hypervisors", "flavors")


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cloud: CloudClient
    sync: SyncService
    poller: Poller | None
    metrics: Metrics
    reports: ReportCache = field(default_factory=ReportCache)
    # Ordered ids of large instance match sets, per data version (app.services.instances).
    orders: OrderCache = field(default_factory=OrderCache)
    # Follow-up refreshes after writes (app.services.operations), cancelled at shutdown.
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    # Rebuilds `reports` and warms `orders` after data changes, so requests never compute them.
    warmer: ReportWarmer = field(default_factory=ReportWarmer)

    @property
    def cloud_name(self) -> str:
        return self.settings.cloud_name

    async def snapshot(self, kinds: Iterable[str], *, wait: bool = True) -> SnapshotInfo:
        """The freshness block for an answer built from ``kinds``. On a cold start (a kind never synced
        yet) waits up to ``settings.cold_start_wait`` for a first sync while a poller runs."""
        kinds = list(dict.fromkeys(kinds))
        combined = await fresh.freshness(self.db, self.settings, kinds)
        if combined.missing and wait and self.poller is not None and self.settings.cold_start_wait > 0:
            combined = await fresh.wait_for_first_sync(self.db, self.settings, kinds)
        return to_snapshot_info(combined)

    async def read(self, kinds: Iterable[str], fn: Callable[..., R], *args: Any, wait: bool = True) -> R:
        """A read tool's whole read in one worker-thread call (:meth:`Database.read`):
        ``fn(conn, snapshot, *args)`` gets the sync read connection and the freshness block of
        ``kinds``, both read in the same snapshot transaction. On a cold start (a kind never synced,
        a poller running, ``wait``) waits for a first sync like :meth:`snapshot`, then reads again."""
        kinds = list(dict.fromkeys(kinds))
        waits = wait and self.poller is not None and self.settings.cold_start_wait > 0

        def body(conn: Connection, may_wait: bool) -> tuple[bool, Any]:
            snap = self.snapshot_in(conn, kinds)
            if may_wait and snap.missing:
                return False, None
            return True, fn(conn, snap, *args)

        done, result = await self.db.read(body, waits)
        if not done:
            await fresh.wait_for_first_sync(self.db, self.settings, kinds)
            done, result = await self.db.read(body, False)
        return result  # type: ignore[no-any-return]

    def snapshot_in(self, conn: Connection, kinds: Iterable[str]) -> SnapshotInfo:
        """The freshness block of ``kinds`` read inside a :meth:`Database.read` (never waits): for reads
        whose kinds are known only from their rows."""
        return to_snapshot_info(fresh.freshness_in(conn, self.settings, kinds))

    async def readiness(self) -> dict[str, Any]:
        per_kind = await fresh.kinds_freshness(self.db, self.settings, list(all_specs()))
        never = sorted(k for k, f in per_kind.items() if f.never_synced and not f.unavailable)
        stale_core = sorted(k for k in CORE_KINDS if k in per_kind and per_kind[k].stale)
        blocked = self.db.writer_blocked_since
        ready = not never and not stale_core and blocked is None
        why = readiness_reasons(per_kind, stale_core, ready)
        if blocked is not None:
            line = (f"writer blocked since {blocked.isoformat()}Z: another process holds the database's write "
                    "lock, so this process's snapshot writes do not land")
            why["reasons"].insert(0, {"state": "blocked", "kinds": [], "error": line})
            why["reason"] = line if why["reason"] in ("ready", "not ready (see the other fields)") else \
                f"{line}; {why['reason']}"
        return {
            "ready": ready,
            # why not, in one line and per kind (the OpenStack error of failed runs)
            **why,
            "never_synced": never,
            "stale_core_kinds": stale_core,
            # Set when this process's snapshot writes time out on the database write lock (another
            # process holds it, e.g. one stopped mid-transaction): the snapshot is not being updated.
            "writer_blocked_since": None if blocked is None else blocked.isoformat() + "Z",
            "unavailable": sorted(k for k, f in per_kind.items() if f.unavailable),
            "poller_leader": bool(self.poller and self.poller.is_leader),
        }

    async def snapshot_sample(self) -> SnapshotSample:
        """What /metrics reports about the snapshot and the poller, read at scrape time."""
        specs = all_specs()
        per_kind = await fresh.kinds_freshness(self.db, self.settings, list(specs))
        kinds: dict[str, KindSample] = {}
        async with self.db.reader() as conn:
            for kind, spec in specs.items():
                t = spec.table
                n = (await conn.execute(
                    select(func.count()).select_from(t).where(t.c.cloud == self.cloud_name, t.c.deleted_at.is_(None))
                )).scalar_one()
                f = per_kind.get(kind)
                as_of = f.as_of if f is not None else None
                kinds[kind] = KindSample(
                    rows=int(n),
                    last_success=None if as_of is None else as_of.replace(tzinfo=timezone.utc).timestamp(),
                    stale=True if f is None else bool(f.stale),
                )
        poller = self.poller
        return SnapshotSample(kinds=kinds, poller_enabled=poller is not None,
                              leader=bool(poller and poller.is_leader),
                              lease_epoch=getattr(getattr(poller, "lease", None), "epoch", None))


def to_snapshot_info(combined: fresh.Freshness) -> SnapshotInfo:
    kinds = []
    for k, f in combined.kinds.items():
        if f.unavailable:
            status = "unavailable"
        elif f.never_synced:
            status = "never_synced"
        elif f.last_status not in (None, "succeeded"):
            status = "failed"
        elif f.stale:
            status = "stale"
        else:
            status = "ok"
        kinds.append(KindFreshnessOut(kind=k, as_of=f.as_of, age_seconds=_round(f.age_seconds), stale=f.stale,
                                      status=status, last_error=f.last_error))
    return SnapshotInfo(as_of=combined.as_of, age_seconds=_round(combined.age_seconds), stale=combined.stale,
                        missing=list(combined.missing), kinds=kinds)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


@asynccontextmanager
async def open_app_context(settings: Settings, **connect_kwargs: Any) -> AsyncIterator[AppContext]:
    """Migrate the database, connect the cloud (lazily: nothing is sent yet), start the poller."""
    await prepare_database(settings.database_url)
    db = Database.from_settings(settings)
    metrics = Metrics()  # observes the cloud client's API calls and the sync service's runs
    cloud = CloudClient.from_settings(settings, observer=metrics, **connect_kwargs)
    try:
        settings = await bind_label(settings, db, identity_of(cloud.conn))
    except BaseException:
        await cloud.close()
        await db.dispose()
        raise
    sync = SyncService(settings, db, cloud, observer=metrics)
    poller = Poller(settings, db, sync) if settings.poller_enabled else None
    ctx = AppContext(settings=settings, db=db, cloud=cloud, sync=sync, poller=poller, metrics=metrics)
    sync.on_run_end = ctx.warmer.run_ended
    ctx.warmer.start(ctx)
    if poller is not None:
        await poller.start()
    try:
        yield ctx
    finally:
        await ctx.warmer.stop()
        await ctx.tasks.cancel_all()
        if poller is not None:
            await poller.stop()
        await cloud.close()
        await db.dispose()
