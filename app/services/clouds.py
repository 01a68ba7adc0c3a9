"""Every served cloud side by side (the get_clouds tool): which cloud each label is, how fresh and
healthy its snapshot is, who polls it, and its headline totals, read from each cloud's rows.

One read transaction per cloud (:meth:`AppContext.read`): its totals and its freshness block come from
the same snapshot. A total whose kind has never synced is null (absent, not zero)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, func, select

from app.db.bookkeeping import cloud_identities, poller_lease
from app.resources.hypervisors import table as hypervisors
from app.resources.servers import table as servers
from app.resources.volumes import table as volumes
from app.services.cache import all_versions
from app.services.kept import kept, kept_or_previous
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import live
from app.sync.lease import FREE
from app.sync.scheduler import lease_name

if TYPE_CHECKING:
    from app.context import AppContext
    from app.db.engine import Database

KINDS = ("servers", "hypervisors", "volumes")
MAX_LIMIT = 100


class CloudOut(BaseModel):
    cloud: str = Field(description="The cloud's label: pass it as `cloud` to any other tool.")
    auth_host: str | None = Field(description="Keystone host[:port] of the cloud (from its auth URL).")
    region: str | None = Field(description="Region served.")
    project: str | None = Field(description="Project (domain/name) the server authenticates to.")
    ready: bool = Field(description="The cloud's snapshot is complete and fresh enough to answer from.")
    reason: str = Field(description="Why not ready (the OpenStack error of failed syncs), or 'ready'.")
    lease_holder: str | None = Field(description="host:pid:random of the process polling this cloud (null: nobody "
                                                 "holds its lease).")
    lease_expires_at: datetime | None = Field(description="When the holder's lease runs out unless renewed (UTC).")
    polled_here: bool = Field(description="This process holds the cloud's lease (it is the one polling it).")
    instances: int | None = Field(description="Live instances (null: servers never synced).")
    instances_error: int | None = Field(description="Instances in ERROR.")
    hypervisors: int | None = Field(description="Hypervisors (null: never synced).")
    hypervisors_down: int | None = Field(description="Hypervisors whose state is down.")
    volumes: int | None = Field(description="Live volumes (null: never synced).")
    volumes_error: int | None = Field(description="Volumes in an error state (error, error_deleting, ...).")
    recounting: list[str] = Field(default_factory=list, description=(
        "Kinds whose totals above are still those of their previous sync: the new data is being counted in the "
        "background (tens of ms at 100,000 instances); call again for them. Empty: every total is of the data "
        "that snapshot describes."))
    snapshot: SnapshotInfo = Field(description="Freshness of this cloud's servers, hypervisors and volumes.")


class CloudsReport(BaseModel):
    summary: str = Field(description="How many clouds are served and ready, and why each one that is not is not.")
    clouds: list[CloudOut] = Field(description="One entry per served cloud, in configuration order.")
    page: PageInfo


# (answer field, table, column counted by, which values are problems, problem field)
_COUNTS = (
    ("instances", servers, servers.c.status, lambda s: s.upper() == "ERROR", "instances_error"),
    ("hypervisors", hypervisors, hypervisors.c.state, lambda s: s.lower() == "down", "hypervisors_down"),
    ("volumes", volumes, volumes.c.status, lambda s: s.lower().startswith("error"), "volumes_error"),
)


# Built once (with the cloud a bound parameter): building a statement costs more than running a kept one.
_COUNT_STMTS = tuple(select(column, func.count()).where(live(table, bindparam("cloud"))).group_by(column)
                     for _n, table, column, _b, _p in _COUNTS)
_IDENTITY = select(cloud_identities.c.auth_url, cloud_identities.c.region, cloud_identities.c.project).where(
    cloud_identities.c.cloud == bindparam("cloud"))


def _totals(conn: Connection, db: Database, cloud: str, snapshot: SnapshotInfo,
            counted: list[str] | None = None, previous_ok: bool = False) -> dict[str, Any]:
    """Counts of one cloud (null where the kind never synced) and its recorded identity. Each kind's
    counts are kept while that kind's data version holds (app/services/kept.py): a servers sync recounts
    the servers only (``counted``, if given, gets the kinds counted again). ``previous_ok``: a kind whose
    kept counts are of an earlier data version answers with those, named in ``recounting`` (the
    caller has them counted again), instead of counting the fleet on the request."""
    out: dict[str, Any] = {"recounting": []}
    versions = all_versions(conn, cloud)  # one read for the three kinds' kept counts
    for (name, table, _column, bad, problem), stmt in zip(_COUNTS, _COUNT_STMTS):

        def count(stmt: Any = stmt, kind: str = table.name) -> list[tuple[Any, ...]]:
            if counted is not None:
                counted.append(kind)
            return [tuple(r) for r in conn.execute(stmt, {"cloud": cloud})]

        key = ("clouds.totals", table.name)
        current, rows = kept_or_previous(conn, db, cloud, [table.name], key, versions) if previous_ok else (False, None)
        if rows is None:
            rows = kept(conn, db, cloud, [table.name], key, count, versions)
        elif not current:
            out["recounting"].append(table.name)
        known = table.name not in snapshot.missing
        out[name] = sum(n for _, n in rows) if known else None
        out[problem] = sum(n for v, n in rows if bad(str(v or ""))) if known else None
    ident = conn.execute(_IDENTITY, {"cloud": cloud}).first()
    out["auth_host"] = (urlsplit(ident.auth_url).netloc or None) if ident else None
    out["region"] = (ident.region or None) if ident else None
    out["project"] = (ident.project or None) if ident else None
    return out


async def warm(view: AppContext) -> bool:
    """Count again the totals whose kinds' data moved, so the first get_clouds after a sync does not count
    the fleet (about 30 ms at 100,000 instances): the report warmer's job (app/services/report_warmer.py).
    Whether it counted anything."""
    counted: list[str] = []
    await view.read(KINDS, lambda conn, snapshot: _totals(conn, view.db, view.cloud_name, snapshot, counted),
                    wait=False)
    return bool(counted)


# Built once: read on every call (a statement built per call cost twice the read itself, 0.47 vs 0.23 ms on
# PostgreSQL, 0.15 vs 0.05 ms on SQLite).
_LEASE = select(poller_lease.c.owner, poller_lease.c.expires_at).where(poller_lease.c.name == bindparam("name"))


def _lease(conn: Connection, name: str) -> tuple[str | None, datetime | None]:
    row = conn.execute(_LEASE, {"name": name}).first()
    if row is None or row.owner == FREE:
        return None, None
    return row.owner, row.expires_at


_RECOUNTING: set[tuple[int, str]] = set()  # (database, cloud) with a recount in flight


def _recount(view: AppContext) -> None:
    """Count the totals of ``view``'s new data in the background (once at a time per cloud); the report
    warmer does the same after a sync, and whichever comes second finds them kept."""
    key = (id(view.db), view.cloud_name)
    if key in _RECOUNTING:
        return
    _RECOUNTING.add(key)

    async def recount() -> None:
        try:
            await warm(view)
        finally:
            _RECOUNTING.discard(key)

    view.tasks.spawn(recount(), name=f"clouds-recount:{view.cloud_name}")


async def cloud_entry(view: AppContext) -> CloudOut:
    """One served cloud's entry."""
    name = lease_name(view.settings)

    def body(conn: Connection, snapshot: SnapshotInfo) -> tuple[dict[str, Any], SnapshotInfo]:
        totals = _totals(conn, view.db, view.cloud_name, snapshot, previous_ok=True)
        totals["lease_holder"], totals["lease_expires_at"] = _lease(conn, name)
        return totals, snapshot

    totals, snapshot = await view.read(KINDS, body, wait=False)
    if totals["recounting"]:
        _recount(view)
    ready = await view.readiness()
    polled_here = bool(view.poller and view.poller.is_leader)
    return CloudOut(cloud=view.cloud_name, ready=bool(ready["ready"]), reason=str(ready["reason"]),
                    polled_here=polled_here, snapshot=snapshot, **totals)


async def clouds_report(app: AppContext, limit: int, offset: int) -> CloudsReport:
    """Every served cloud (an ``offset``/``limit`` window over the configured order)."""
    views = app.for_all()
    entries = [await cloud_entry(view) for _, view in views[offset:offset + limit]]
    failing = [f"{c.cloud} ({c.reason[:200]})" for c in entries if not c.ready]
    recounting = [f"{c.cloud}: {', '.join(c.recounting)}" for c in entries if c.recounting]
    text = f"{len(views)} cloud{'s' if len(views) != 1 else ''} served"
    if entries:
        ready = len(entries) - len(failing)
        text += f"; of the {len(entries)} listed, {ready} ready"
        text += f"; not ready: {'; '.join(failing)}" if failing else ""
        text += (f"; totals from the previous sync, being counted again (call again in a moment): "
                 f"{'; '.join(recounting)}" if recounting else "")
    return CloudsReport(summary=text + ".", clouds=entries, page=PageInfo.of(len(views), len(entries), offset, limit))
