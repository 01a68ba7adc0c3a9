"""The typed lifespan context every tool receives: settings, database, cloud client, sync service,
poller and metrics, plus the readiness and snapshot-metrics views the HTTP probes use.

Several clouds (``OPS_CLOUDS``): there is one :class:`AppContext` per served cloud, a *view*: the
database, metrics, order cache and background tasks are shared, and each view has its cloud's settings
(label), client, sync service, poller (own lease), report cache and report warmer. Services take any
view and work on its cloud; :meth:`AppContext.for_cloud` picks one (tools do it from their ``cloud``
argument, app/tools/base.py). ``clouds`` is the same mapping in every view."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select

from app.cloud.connection import CloudClient
from app.cloud.identity import identity_of
from app.cloud.targets import cloud_settings
from app.config import Settings
from app.db.clouds import bind_label
from app.db.engine import Database, prepare_database
from app.errors import InvalidArgument
from app.metrics import KindSample, Metrics, SnapshotSample
from app.resources.registry import all_specs
from app.services.cache import OrderCache, ReportCache
from app.services.completeness import readiness_reasons
from app.services.report_warmer import ReportWarmer
from app.services.answer_cache import AnswerCache
from app.services.scope import UNRESTRICTED, ProjectScope
from app.services.operations.background import BackgroundTasks
from app.services.models import KindFreshness as KindFreshnessOut
from app.services.models import SnapshotInfo, clip
from app.sync import freshness as fresh
from app.sync.runs import TARGETED, SyncResult
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
    # Read-tool answers kept while their data and sync state hold (app.services.answer_cache).
    answers: AnswerCache = field(default_factory=AnswerCache)
    # Ordered ids of large instance match sets, per data version (app.services.instances).
    orders: OrderCache = field(default_factory=OrderCache)
    # Follow-up refreshes after writes (app.services.operations), cancelled at shutdown.
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    # Rebuilds `reports` and warms `orders` after data changes, so requests never compute them.
    warmer: ReportWarmer = field(default_factory=ReportWarmer)
    # Every served cloud's view by label, in configuration order: one mapping shared by all views.
    clouds: dict[str, AppContext] = field(default_factory=dict, repr=False)
    # The projects the call's caller may see (app/services/scope.py): a tool call's view carries the
    # OAuth caller's (app/tools/base.py); every other view is unrestricted.
    scope: ProjectScope = UNRESTRICTED

    @property
    def cloud_name(self) -> str:
        return self.settings.cloud_name

    @property
    def labels(self) -> list[str]:
        """The labels of the clouds this server serves."""
        return list(self.clouds) or [self.cloud_name]

    def for_all(self) -> list[tuple[str, AppContext]]:
        """(label, view) of every served cloud."""
        return list((self.clouds or {self.cloud_name: self}).items())

    def for_cloud(self, label: str | None) -> AppContext:
        """The view of cloud ``label`` (same database, metrics, caches and tasks; that cloud's client, sync,
        poller and label); ``None``: the only cloud. InvalidArgument, listing the clouds, when ``label`` is
        unknown, or None while several clouds are served."""
        clouds = dict(self.for_all())
        if label is None:
            if len(clouds) == 1:
                return next(iter(clouds.values()))
            raise InvalidArgument(f"This server serves {len(clouds)} clouds: {', '.join(clouds)}. Say which one "
                                  "with the `cloud` argument (get_clouds compares them).")
        view = clouds.get(label)
        if view is None:
            raise InvalidArgument(f"No cloud {clip(label)} here: this server serves {', '.join(clouds)}. Pass one "
                                  "of them as `cloud`.")
        return view

    async def snapshot(self, kinds: Iterable[str], *, wait: bool = True) -> SnapshotInfo:
        """The freshness block for an answer built from ``kinds``. On a cold start (a kind never synced
        yet) waits up to ``settings.cold_start_wait`` for a first sync while a poller runs."""
        kinds = list(dict.fromkeys(kinds))
        combined = await fresh.freshness(self.db, self.settings, kinds)
        if combined.missing and wait and self.poller is not None and self.settings.cold_start_wait > 0:
            combined = await fresh.wait_for_first_sync(self.db, self.settings, kinds)
        return to_snapshot_info(combined, self.cloud_name)

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
        return to_snapshot_info(fresh.freshness_in(conn, self.settings, kinds), self.cloud_name)

    def snapshot_of(self, combined: fresh.Freshness) -> SnapshotInfo:
        """The freshness block of an answer from freshness read by the caller (e.g. with other data in
        one statement)."""
        return to_snapshot_info(combined, self.cloud_name)

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

    async def serving_readiness(self) -> dict[str, Any]:
        """/readyz over every served cloud. One cloud: its :meth:`readiness` (and its label). Several: ready
        while at least one cloud is (a cloud that fails must not take the others out of service), with
        ``not_ready_clouds`` and ``reason`` naming each failing cloud and why, and every cloud's report."""
        reports = {label: {"cloud": label, **await view.readiness()} for label, view in self.for_all()}
        if len(reports) == 1:
            return next(iter(reports.values()))
        failing = [label for label, r in reports.items() if not r["ready"]]
        reason = "; ".join(f"cloud {label}: {reports[label]['reason']}" for label in failing) or "ready"
        return {"ready": len(failing) < len(reports), "reason": reason, "not_ready_clouds": failing,
                "clouds": list(reports.values())}

    async def snapshot_samples(self) -> dict[str, SnapshotSample]:
        """Every served cloud's :meth:`snapshot_sample`, by label (for /metrics)."""
        return {label: await view.snapshot_sample() for label, view in self.for_all()}

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


def to_snapshot_info(combined: fresh.Freshness, cloud: str | None = None) -> SnapshotInfo:
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
    return SnapshotInfo(cloud=cloud, as_of=combined.as_of, age_seconds=_round(combined.age_seconds),
                        stale=combined.stale, missing=list(combined.missing), kinds=kinds)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


@asynccontextmanager
async def open_app_context(settings: Settings, **connect_kwargs: Any) -> AsyncIterator[AppContext]:
    """Migrate the database, connect each served cloud (lazily: nothing is sent yet), start the pollers.
    Yields the first cloud's view. ``connect_kwargs`` (tests: a simulator) connect the one cloud of
    ``settings``; without them the clouds come from OPS_CLOUDS, else OS_CLOUD / the OS_* variables."""
    targets = [settings] if connect_kwargs else cloud_settings(settings)
    await prepare_database(settings.database_url)
    db = Database.from_settings(settings)
    metrics = Metrics()  # observes each cloud client's API calls and each sync service's runs
    views: dict[str, AppContext] = {}
    async with AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        orders, tasks = OrderCache(), BackgroundTasks()  # shared: keyed by cloud / cloud-agnostic
        for target in targets:
            view = await _open_cloud(stack, target, db, metrics, orders, tasks, connect_kwargs)
            views[view.cloud_name] = view
            view.clouds = views
        for view in views.values():
            if view.poller is not None:
                stack.push_async_callback(view.poller.stop)
        stack.push_async_callback(tasks.cancel_all)
        for view in views.values():
            view.sync.on_run_end = _run_ended(view)
            view.warmer.start(view)
            stack.push_async_callback(view.answers.stop)  # background recomputes: cancelled after the warmer
            stack.push_async_callback(view.warmer.stop)
        for view in views.values():
            if view.poller is not None:
                await view.poller.start()
        yield next(iter(views.values()))


def _run_ended(view: AppContext) -> Callable[[SyncResult], None]:
    """``SyncService.on_run_end``: the warmer looks at the data; a write-through (targeted) run means an
    operator's change, which no answer computed before it may hide (app.services.answer_cache)."""
    def ended(result: SyncResult) -> None:
        if result.mode == TARGETED:
            view.answers.note_write()
        view.warmer.run_ended(result)
    return ended


async def _open_cloud(stack: AsyncExitStack, settings: Settings, db: Database, metrics: Metrics, orders: OrderCache,
                      tasks: BackgroundTasks, connect_kwargs: dict[str, Any]) -> AppContext:
    """One cloud's view: its client (closed by ``stack``), its label claimed for it, its sync and poller."""
    cloud = CloudClient.from_settings(settings, **connect_kwargs)
    stack.push_async_callback(cloud.close)
    settings = await bind_label(settings, db, identity_of(cloud.conn))
    cloud.observer = observer = metrics.for_cloud(settings.cloud_name)
    sync = SyncService(settings, db, cloud, observer=observer)
    poller = Poller(settings, db, sync) if settings.poller_enabled else None
    return AppContext(settings=settings, db=db, cloud=cloud, sync=sync, poller=poller, metrics=metrics,
                      orders=orders, tasks=tasks)
