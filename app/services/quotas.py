"""Quotas and usage per project: ``get_quota`` (one project) and ``get_quota_pressure`` (the projects
closest to a limit), answered from the ``project_quotas`` kind (app/resources/project_quotas.py:
Nova, Neutron and Cinder quotas with usage, synced every 5 minutes for every project).

The fleet view is one indexed ``ORDER BY max_used_pct DESC`` over the per-project rows (the % used,
the tightest resource and the at-or-over count are computed by the sync, not per request).
``get_quota(live=true)`` reads the one project an operator is about to act on from OpenStack now
(app/services/quota_live.py, cached 60 s). ``-1`` means unlimited; a service the cloud does not offer
or refuses is reported per project (``unavailable``), never as zero.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Select, case, func, select, true

from app.errors import InvalidArgument, StaleSnapshot
from app.resources._quotas import at_or_over, tightest
from app.resources._quotas import unavailable as unavailable_of
from app.resources.project_quotas import items as items_table
from app.resources.project_quotas import table as quotas_table
from app.services import quota_live
from app.services.models import SnapshotInfo
from app.services.operations.targets import Target, resolve
from app.services.query import live
from app.services.scope import restrict

if TYPE_CHECKING:
    from app.context import AppContext

KIND = "project_quotas"
MAX_PRESSURE = 50


class QuotaItem(BaseModel):
    service: str = Field(description="compute, network or volume.")
    resource: str = Field(description="instances, cores, ram_mb, floating_ips, ports, networks, volumes, gigabytes, "
                                      "snapshots; other resources keep their upstream names.")
    limit: int = Field(description="-1 means unlimited.")
    in_use: int
    reserved: int = 0
    used_pct: float | None = Field(description="in_use / limit in percent; null when unlimited (or limit 0).")


class ProjectQuota(BaseModel):
    summary: str
    project_id: str
    project_name: str | None
    source: Literal["snapshot", "live"] = Field(description="snapshot: the last quota sync; live: OpenStack now.")
    resources: list[QuotaItem] = Field(description="Key resources first, most used first.")
    tightest: str | None = Field(description="The limited resource closest to its limit (what runs out first).")
    max_used_pct: float | None
    unavailable: dict[str, str] = Field(default_factory=dict,
                                        description="service -> why its quotas could not be read (never zeros).")
    fetched_at: datetime | None = Field(description="When OpenStack was asked (UTC): by the sync that stored these "
                                                    f"quotas, or by this call with live=true (cached "
                                                    f"{quota_live.QUOTA_TTL:.0f} s).")
    snapshot: SnapshotInfo = Field(description="Freshness of the project_quotas kind.")


class PressureRow(BaseModel):
    project_id: str
    project_name: str | None
    max_used_pct: float = Field(description="Highest % used among the key resources with a limit.")
    tightest: str = Field(description="service/resource closest to its limit (what runs out first).")
    in_use: int | None = None
    limit: int | None = None
    headroom: int | None = Field(default=None, description="limit - in_use of the tightest resource (negative: over).")
    at_or_over: list[str] = Field(default_factory=list, description="Key resources at or over 100 %.")
    unavailable: list[str] = Field(default_factory=list, description="Services that could not be read.")


class QuotaPressure(BaseModel):
    summary: str
    projects_total: int = Field(description="Projects with a quota row in the snapshot.")
    projects_ranked: int = Field(description="Projects with at least one limited key resource (the ranking).")
    projects_at_or_over: int = Field(description="Projects with a key resource at or over its limit.")
    projects_unreadable: int = Field(description="Projects for which some service's quotas could not be read.")
    projects: list[PressureRow] = Field(description="Closest to a limit first.")
    snapshot: SnapshotInfo


def _item(row: dict[str, Any]) -> QuotaItem:
    return QuotaItem(service=row["service"], resource=row["resource"], limit=row["quota_limit"],
                     in_use=row["in_use"], reserved=row["reserved"], used_pct=row["used_pct"])


def _order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda i: (not i["key_resource"], -(i["used_pct"] if i["used_pct"] is not None else -1.0),
                                       i["service"], i["resource"]))


def _answer(target: Target, rows: list[dict[str, Any]], unavailable: dict[str, str], all_resources: bool,
            source: Literal["snapshot", "live"], fetched_at: datetime | None, snap: SnapshotInfo) -> ProjectQuota:
    shown = _order(rows if all_resources else [r for r in rows if r["key_resource"]])
    top = tightest(rows)
    label = target.label()
    if top is not None:
        summary = (f"Project {label}: closest to a limit is {top['service']} {top['resource']} at {top['used_pct']}% "
                   f"({top['in_use']} of {top['quota_limit']}).")
        over = [f"{i['resource']} ({i['in_use']}/{i['quota_limit']})" for i in at_or_over(rows)]
        if over:
            summary += " At or over the limit: " + ", ".join(over) + "."
    else:
        summary = f"Project {label}: no limited key resource (all unlimited or unreadable)."
    if unavailable:
        summary += " Not readable: " + ", ".join(sorted(unavailable)) + "."
    summary += " Read live from OpenStack." if source == "live" else " From the snapshot (live=true reads it now)."
    return ProjectQuota(summary=summary, project_id=target.id, project_name=target.name, source=source,
                        resources=[_item(r) for r in shown],
                        tightest=f"{top['service']}/{top['resource']}" if top else None,
                        max_used_pct=top["used_pct"] if top else None, unavailable=unavailable,
                        fetched_at=fetched_at, snapshot=snap)


def _read_project(conn: Connection, snap: SnapshotInfo, cloud: str, project_id: str) -> tuple[Any, list[Any]]:
    q, it = quotas_table, items_table
    row = conn.execute(select(q.c.last_seen_at, q.c.raw).where(live(q, cloud), q.c.id == project_id)).first()
    if row is None:
        return None, []
    cols = [it.c.service, it.c.resource, it.c.quota_limit, it.c.in_use, it.c.reserved, it.c.used_pct, it.c.key_resource]
    items = conn.execute(select(*cols).where(it.c.cloud == cloud, it.c.project_quota_id == project_id)).all()
    return row, [dict(r._mapping) for r in items]


async def get_quota(app: AppContext, project: str, all_resources: bool, live_read: bool = False) -> ProjectQuota:
    target = await resolve(app, "projects", project, what="project", param="project")
    if live_read:
        snap = await app.snapshot([KIND], wait=False)
        (fetched_at, rows, unavailable), _hit = await quota_live.cached_project(app, target.id)
        return _answer(target, rows, unavailable, all_resources, "live", fetched_at, snap)
    snap, (row, rows) = await app.read([KIND], lambda conn, s: (s, _read_project(conn, s, app.cloud_name, target.id)))
    if row is None:
        kind = snap.kinds[0] if snap.kinds else None
        if kind is not None and kind.status in ("unavailable", "failed"):
            when = f"{kind.status}: {kind.last_error or 'no reason recorded'}"
        else:
            when = f"last synced {snap.as_of:%Y-%m-%d %H:%M:%S} UTC" if snap.as_of else "never synced yet"
        raise StaleSnapshot(f"The quotas of project {target.label()} are not in the snapshot (the project_quotas kind "
                            f"is {when}; a project created since appears at the next sync). Call get_quota with "
                            "live=true to read them from OpenStack now.")
    return _answer(target, rows, unavailable_of(row.raw), all_resources, "snapshot", row.last_seen_at, snap)


def top_projects(cloud: str, limit: int, mine: ColumnElement[bool] | None = None) -> Select[Any]:
    """The fleet view's ranking: a walk of the live-row index on ``(cloud, max_used_pct)``; ``mine``: the
    caller's projects only."""
    q = quotas_table
    return (select(q.c.id, q.c.name, q.c.max_used_pct, q.c.tightest, q.c.tightest_in_use, q.c.tightest_limit,
                   q.c.unavailable)
            .where(live(q, cloud), true() if mine is None else mine, q.c.max_used_pct.is_not(None))
            .order_by(q.c.max_used_pct.desc(), q.c.id).limit(limit))


def _read_pressure(conn: Connection, snap: SnapshotInfo, cloud: str, limit: int,
                   mine: ColumnElement[bool]) -> QuotaPressure:
    q, it = quotas_table, items_table
    counts = conn.execute(select(
        func.count(), func.count(q.c.max_used_pct), func.sum(case((q.c.at_or_over > 0, 1), else_=0)),
        func.count(q.c.unavailable)).where(live(q, cloud), mine)).one()
    total, ranked, over_n, unreadable = (int(v or 0) for v in counts)
    top = conn.execute(top_projects(cloud, limit, mine)).all()
    over: dict[str, list[str]] = {}
    if top:
        for r in conn.execute(select(it.c.project_quota_id, it.c.service, it.c.resource).where(
                it.c.cloud == cloud, it.c.project_quota_id.in_([t.id for t in top]), it.c.key_resource.is_(True),
                it.c.used_pct >= 100.0).order_by(it.c.project_quota_id, it.c.service, it.c.resource)):
            over.setdefault(r.project_quota_id, []).append(f"{r.service}/{r.resource}")
    rows = [PressureRow(
        project_id=t.id, project_name=t.name, max_used_pct=t.max_used_pct, tightest=t.tightest, in_use=t.tightest_in_use,
        limit=t.tightest_limit,
        headroom=None if t.tightest_limit is None or t.tightest_in_use is None else t.tightest_limit - t.tightest_in_use,
        at_or_over=over.get(t.id, []), unavailable=(t.unavailable or "").split(",") if t.unavailable else [])
        for t in top]
    return QuotaPressure(summary=_pressure_summary(rows, total, ranked, over_n, unreadable), projects_total=total,
                         projects_ranked=ranked, projects_at_or_over=over_n, projects_unreadable=unreadable,
                         projects=rows, snapshot=snap)


def _pressure_summary(rows: list[PressureRow], total: int, ranked: int, over_n: int, unreadable: int) -> str:
    if not rows:
        text = f"{total} project(s) in the snapshot; none has a limited key resource (all unlimited or unreadable)."
    else:
        lead = rows[0]
        text = (f"{total} project(s); closest to a limit: {lead.project_name or lead.project_id} at "
                f"{lead.max_used_pct}% of {lead.tightest} ({lead.in_use}/{lead.limit}).")
        if over_n:
            text += f" {over_n} project(s) at or over a limit."
    if ranked < total:
        text += f" {total - ranked} project(s) have no limited key resource."
    if unreadable:
        text += f" {unreadable} project(s) could not be fully read (see unavailable)."
    return text


async def get_quota_pressure(app: AppContext, limit: int) -> QuotaPressure:
    if not 1 <= limit <= MAX_PRESSURE:
        raise InvalidArgument(f"limit must be 1..{MAX_PRESSURE} (got {limit}).")
    return await app.read([KIND], _read_pressure, app.cloud_name, limit, restrict(app, quotas_table))
