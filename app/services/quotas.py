"""Quotas and usage per project: ``get_quota`` (one project) and ``get_quota_pressure`` (the projects
closest to a limit).

Three upstream calls per project, one per service, each answering limit and usage together:

* compute: ``GET /os-quota-sets/{project}/detail`` -> ``{"quota_set": {<res>: {"limit", "in_use", "reserved"}}}``
* network: ``GET /v2.0/quotas/{project}/details`` -> ``{"quota": {<res>: {"limit", "used", "reserved"}}}``
* block storage: ``GET /os-quota-sets/{project}?usage=True`` -> ``{"quota_set": {<res>: {"limit", "in_use", ...}}}``

They are read **live with a short cache** (``QUOTA_TTL`` per project, ``PRESSURE_TTL`` for the fleet
view), not synced: the generic listing's per-object sub-requests (``Listing.enrich``) run on the
listing's own service, and a quota kind needs a Keystone project listing enriched by three other
services. Once the pager accepts sub-requests on another service this module reads the ``quotas``
kind instead (see docs/fidelity.md and the issue 14 report). A service that the cloud does not offer
or refuses is reported per project (``unavailable``), never as zero. ``-1`` means unlimited.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from app.errors import InvalidArgument, NotPermitted, OpsError, ServiceNotOffered
from app.resources.registry import all_specs
from app.services.instance_live import TTLCache, with_request_id
from app.services.models import SnapshotInfo
from app.services.operations.targets import resolve
from app.services.query import live

if TYPE_CHECKING:
    from app.context import AppContext

QUOTA_TTL = 60.0
PRESSURE_TTL = 120.0
MAX_PROJECTS = 500  # the fleet view asks about at most this many projects (largest users first)

# (service, upstream resource) -> the name we report; the resources people ask about.
KEY_RESOURCES: dict[tuple[str, str], str] = {
    ("compute", "instances"): "instances", ("compute", "cores"): "cores", ("compute", "ram"): "ram_mb",
    ("network", "floatingip"): "floating_ips", ("network", "port"): "ports", ("network", "network"): "networks",
    ("volume", "volumes"): "volumes", ("volume", "gigabytes"): "gigabytes", ("volume", "snapshots"): "snapshots",
}
SERVICES = {
    "compute": ("compute", "/os-quota-sets/{id}/detail", "max", "quota_set", "in_use"),
    "network": ("network", "/quotas/{id}/details", None, "quota", "used"),
    "volume": ("block_storage", "/os-quota-sets/{id}", "max", "quota_set", "in_use"),
}
PARAMS = {"volume": [("usage", "True")]}


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
    resources: list[QuotaItem] = Field(description="Key resources first, most used first.")
    tightest: str | None = Field(description="The limited resource closest to its limit (what runs out first).")
    max_used_pct: float | None
    unavailable: dict[str, str] = Field(default_factory=dict,
                                        description="service -> why its quotas could not be read (never zeros).")
    fetched_at: datetime = Field(description=f"When OpenStack was asked (UTC); cached {QUOTA_TTL:.0f} s.")
    snapshot: SnapshotInfo = Field(description="Freshness of the snapshot the project was resolved in.")


class PressureRow(BaseModel):
    project_id: str
    project_name: str | None
    max_used_pct: float | None = Field(description="Highest % used among the key resources with a limit.")
    tightest: str | None = Field(description="service/resource closest to its limit.")
    in_use: int | None = None
    limit: int | None = None
    at_or_over: list[str] = Field(default_factory=list, description="Key resources at or over 100 %.")
    unavailable: list[str] = Field(default_factory=list, description="Services that could not be read.")


class QuotaPressure(BaseModel):
    summary: str
    projects_checked: int
    projects_total: int = Field(description="Live projects in the snapshot.")
    partial: bool = Field(description=f"True when only the {MAX_PROJECTS} largest projects (by instances) were checked.")
    projects: list[PressureRow] = Field(description="Closest to a limit first.")
    fetched_at: datetime
    snapshot: SnapshotInfo


_caches: dict[int, tuple[Any, TTLCache, TTLCache]] = {}


def _caches_for(app: AppContext) -> tuple[TTLCache, TTLCache]:
    """Per cloud client: project quotas, and fleet views (weakly tied to the client's lifetime)."""
    import weakref

    key = id(app.cloud)
    entry = _caches.get(key)
    if entry is None or entry[0]() is not app.cloud:
        entry = (weakref.ref(app.cloud), TTLCache(QUOTA_TTL, maxsize=MAX_PROJECTS * 2), TTLCache(PRESSURE_TTL, 8))
        _caches[key] = entry
    return entry[1], entry[2]


def items_of(service: str, body: Any) -> list[QuotaItem]:
    """QuotaItems from one service's quota body (mapping tests use the recorded real bodies)."""
    _, _, _, wrapper, used_key = SERVICES[service]
    inner = body.get(wrapper) if isinstance(body, dict) else None
    out = []
    for res, v in (inner or {}).items():
        if not isinstance(v, dict) or "limit" not in v:
            continue
        limit = int(v.get("limit") or 0)
        used = int(v.get(used_key) or 0)
        pct = round(100.0 * used / limit, 1) if limit > 0 else None
        out.append(QuotaItem(service=service, resource=KEY_RESOURCES.get((service, res), res), limit=limit,
                             in_use=used, reserved=int(v.get("reserved") or 0), used_pct=pct))
    return out


def is_key(item: QuotaItem) -> bool:
    return item.resource in KEY_RESOURCES.values()


def tightest(items: list[QuotaItem]) -> QuotaItem | None:
    limited = [i for i in items if is_key(i) and i.used_pct is not None]
    return max(limited, key=lambda i: (i.used_pct or 0.0, -(i.limit - i.in_use)), default=None)


async def fetch_project(app: AppContext, project_id: str) -> tuple[datetime, list[QuotaItem], dict[str, str]]:
    """One project's three quota bodies, concurrently; a service it cannot read is reported, not zeroed."""
    async def one(service: str) -> list[QuotaItem] | str:
        proxy, path, mv, _, _ = SERVICES[service]
        try:
            resp = await app.cloud.get_json(proxy, path.format(id=project_id), params=PARAMS.get(service),
                                            microversion=mv,
                                            doing=f"reading the {service} quotas of project {project_id}")
        except (ServiceNotOffered, NotPermitted) as e:
            return str(with_request_id(e))
        except OpsError as e:
            raise with_request_id(e) from e.__cause__
        return items_of(service, resp.body)

    asked = datetime.now(timezone.utc).replace(tzinfo=None)
    results = await asyncio.gather(*(one(s) for s in SERVICES))
    items: list[QuotaItem] = []
    unavailable: dict[str, str] = {}
    for service, r in zip(SERVICES, results):
        if isinstance(r, str):
            unavailable[service] = r
        else:
            items += r
    return asked, items, unavailable


async def _cached_project(app: AppContext, project_id: str) -> tuple[datetime, list[QuotaItem], dict[str, str]]:
    per_project, _ = _caches_for(app)
    value, _hit = await per_project.get_or_fetch(project_id, lambda: fetch_project(app, project_id))
    return value


def _order(items: list[QuotaItem]) -> list[QuotaItem]:
    return sorted(items, key=lambda i: (not is_key(i), -(i.used_pct if i.used_pct is not None else -1.0),
                                        i.service, i.resource))


async def get_quota(app: AppContext, project: str, all_resources: bool) -> ProjectQuota:
    target = await resolve(app, "projects", project, what="project", param="project")
    snap = await app.snapshot(["projects"], wait=False)
    fetched_at, items, unavailable = await _cached_project(app, target.id)
    shown = _order(items if all_resources else [i for i in items if is_key(i)])
    top = tightest(items)
    label = target.label()
    if top is not None:
        summary = (f"Project {label}: closest to a limit is {top.service} {top.resource} at {top.used_pct}% "
                   f"({top.in_use} of {top.limit}).")
        over = [f"{i.resource} ({i.in_use}/{i.limit})" for i in items if is_key(i) and (i.used_pct or 0) >= 100]
        if over:
            summary += " At or over the limit: " + ", ".join(over) + "."
    else:
        summary = f"Project {label}: no limited key resource (all unlimited or unreadable)."
    if unavailable:
        summary += " Not readable: " + ", ".join(sorted(unavailable)) + "."
    return ProjectQuota(summary=summary, project_id=target.id, project_name=target.name, resources=shown,
                        tightest=f"{top.service}/{top.resource}" if top else None,
                        max_used_pct=top.used_pct if top else None, unavailable=unavailable,
                        fetched_at=fetched_at, snapshot=snap)


async def _projects(app: AppContext) -> tuple[list[tuple[str, str | None]], int]:
    """(id, name) of live projects, the biggest users of instances first, at most MAX_PROJECTS; and the total."""
    specs = all_specs()
    p, s = specs["projects"].table, specs["servers"].table
    counts = (select(s.c.project_id, func.count().label("n")).where(live(s, app.cloud_name))
              .group_by(s.c.project_id).subquery())
    async with app.db.reader() as conn:
        total = (await conn.execute(select(func.count()).select_from(p).where(live(p, app.cloud_name)))).scalar_one()
        rows = (await conn.execute(
            select(p.c.id, p.c.name).outerjoin(counts, counts.c.project_id == p.c.id)
            .where(live(p, app.cloud_name))
            .order_by(func.coalesce(counts.c.n, 0).desc(), p.c.name, p.c.id).limit(MAX_PROJECTS))).all()
    return [(r.id, r.name) for r in rows], int(total)


async def get_quota_pressure(app: AppContext, limit: int) -> QuotaPressure:
    if not 1 <= limit <= 50:
        raise InvalidArgument(f"limit must be 1..50 (got {limit}).")
    snap = await app.snapshot(["projects", "servers"], wait=False)
    _, fleet = _caches_for(app)

    async def compute() -> tuple[datetime, list[PressureRow], int, int]:
        projects, total = await _projects(app)
        asked = datetime.now(timezone.utc).replace(tzinfo=None)
        got = await asyncio.gather(*(_cached_project(app, pid) for pid, _ in projects))
        rows = []
        for (pid, name), (_, items, unavailable) in zip(projects, got):
            top = tightest(items)
            rows.append(PressureRow(
                project_id=pid, project_name=name, max_used_pct=top.used_pct if top else None,
                tightest=f"{top.service}/{top.resource}" if top else None,
                in_use=top.in_use if top else None, limit=top.limit if top else None,
                at_or_over=[f"{i.service}/{i.resource}" for i in items if is_key(i) and (i.used_pct or 0) >= 100],
                unavailable=sorted(unavailable)))
        rows.sort(key=lambda r: (-(r.max_used_pct if r.max_used_pct is not None else -1.0), r.project_name or "",
                                 r.project_id))
        return asked, rows, len(projects), total

    (asked, rows, checked, total), _hit = await fleet.get_or_fetch("pressure", compute)
    top = rows[:limit]
    if top and top[0].max_used_pct is not None:
        lead = top[0]
        summary = (f"{checked} project(s) checked; closest to a limit: {lead.project_name or lead.project_id} at "
                   f"{lead.max_used_pct}% of {lead.tightest} ({lead.in_use}/{lead.limit}).")
        over = [r for r in rows if r.at_or_over]
        if over:
            summary += f" {len(over)} project(s) at or over a limit."
    else:
        summary = f"{checked} project(s) checked; none has a limited key resource in use."
    if checked < total:
        summary += f" Only the {checked} largest of {total} projects were checked."
    return QuotaPressure(summary=summary, projects_checked=checked, projects_total=total, partial=checked < total,
                         projects=top, fetched_at=asked, snapshot=snap)
