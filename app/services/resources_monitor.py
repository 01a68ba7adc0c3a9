"""Capacity and usage per hypervisor and in total, top consumers (the monitor_resources tool; the totals
also feed get_cluster_status). Numbers come from :mod:`app.services.capacity`'s SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, desc, func, select

from app.errors import InvalidArgument
from app.resources.flavors import table as flavors
from app.resources.projects import table as projects
from app.resources.servers import table as servers
from app.services import capacity as capq
from app.services.cache import Computed, ReportAnswer, Served
from app.services.completeness import IncompleteKinds, assess
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import check_window, live, ordered

if TYPE_CHECKING:
    from app.context import AppContext

KINDS = ("hypervisors", "resource_providers", "servers", "flavors", "projects")
TOP_N = 10
OVER_N = 10
TOP_PROJECTS = 5


class ResourceUse(BaseModel):
    capacity: float | None = Field(description="Schedulable capacity: (total - reserved) * allocation_ratio from Placement, "
                                                "or the hypervisor's own total (before compute 2.88); null = unknown.")
    used: float | None = Field(description="Allocated to instances (Placement usages or the hypervisor's *_used field).")
    physical: float | None = Field(description="Physical amount (total - reserved), before overcommit.")
    allocation_ratio: float | None = Field(description="Overcommit ratio from Placement; null when unknown (hypervisor source).")
    used_pct: float | None = Field(description="used / capacity in percent.")
    physical_used_pct: float | None = Field(default=None, description="RAM only: used / physical RAM in percent.")


class HypervisorUse(BaseModel):
    hypervisor_hostname: str | None
    hypervisor_id: str
    host: str | None
    state: str | None = Field(description="up or down.")
    status: str | None = Field(description="enabled or disabled.")
    disabled_reason: str | None = None
    running_vms: int | None = Field(description="Instances on it: the hypervisor API's count (below compute 2.88), "
                                                "else the live instances the snapshot places on it.")
    capacity_source: str | None = Field(description="placement, hypervisor (API fields before 2.88) or null (unknown).")
    vcpus: ResourceUse
    memory_mb: ResourceUse
    disk_gb: ResourceUse
    pressure_pct: float | None = Field(description="Highest fill percentage (vCPU/RAM/disk of capacity, RAM of physical; "
                                                   "vCPU only when the allocation ratio is known).")
    hot: list[str] = Field(default_factory=list, description="Resources at or above the warning threshold.")


class HypervisorPressure(BaseModel):
    """One loaded hypervisor, in brief (the full figures are in `hypervisors` and get_hypervisor_list)."""

    hypervisor_hostname: str | None
    state: str | None = Field(description="up or down.")
    status: str | None = Field(description="enabled or disabled.")
    running_vms: int | None = Field(description="Instances on it (see HypervisorUse.running_vms).")
    pressure_pct: float | None = Field(description="Highest fill percentage (see docs/health.md).")
    hot: list[str] = Field(description="Resources at or above the warning threshold.")
    vcpus_used_pct: float | None
    memory_used_pct: float | None
    disk_used_pct: float | None


class RatioCount(BaseModel):
    allocation_ratio: float | None
    providers: int


class ResourceTotal(BaseModel):
    capacity: float | None = Field(description="Sum over hypervisors with known capacity; null if none is known.")
    used: float | None
    physical: float | None
    used_pct: float | None
    hypervisors_known: int = Field(description="Hypervisors whose capacity for this resource is known.")
    allocation_ratios: list[RatioCount] = Field(default_factory=list, description="Distinct Placement ratios in use.")


class CapacityTotals(BaseModel):
    hypervisors: int
    capacity_sources: dict[str, int] = Field(description="Hypervisors per capacity source: placement, hypervisor, unknown.")
    vcpus: ResourceTotal
    memory_mb: ResourceTotal
    disk_gb: ResourceTotal
    note: str | None = Field(default=None, description="Why some capacity is unknown, if it is.")


class ProjectUse(BaseModel):
    project_id: str | None
    project_name: str | None
    instances: int
    vcpus: int
    ram_mb: int


class MonitorFigures(PageInfo):
    """The report as computed (cached per data version); :class:`ResourceMonitor` is what an answer adds."""

    summary: str = Field(description="A few lines: totals, how many hypervisors are over the thresholds, the "
                                     "most loaded ones, how to page.")
    complete: bool = Field(description="True when hypervisors, resource providers, servers, flavors and projects have "
                                       "all completed a sync. False: capacity, use and counts cover only what is "
                                       "known so far (see coverage and incomplete).")
    coverage: str = Field(description="One line: complete, or which kinds are not known yet and why.")
    incomplete: list[IncompleteKinds] = Field(description="Kinds whose figures are not facts yet, with why.")
    hypervisors: list[HypervisorUse] = Field(description="This window of hypervisors, by hostname.")
    totals: CapacityTotals
    over_warn: list[HypervisorPressure] = Field(description=f"Hypervisors with pressure_pct >= threshold_warn (most loaded "
                                                            f"first, up to {OVER_N}; over_warn_total counts them all).")
    over_warn_total: int
    over_crit: list[HypervisorPressure] = Field(description=f"Hypervisors with pressure_pct >= threshold_crit (most loaded "
                                                            f"first, up to {OVER_N}).")
    over_crit_total: int
    top_hypervisors: list[HypervisorPressure] = Field(description=f"The {TOP_N} most loaded hypervisors by pressure_pct.")
    top_projects_by_vcpus: list[ProjectUse] = Field(description=f"{TOP_PROJECTS} projects allocating the most vCPUs "
                                                                "(flavors of live instances, shelved-offloaded excluded).")
    top_projects_by_ram: list[ProjectUse] = Field(description=f"{TOP_PROJECTS} projects allocating the most RAM.")
    threshold_warn: float
    threshold_crit: float


class ResourceMonitor(MonitorFigures):
    computed: Computed = Field(description="Which data version the figures summarise (current or, while the "
                                           "report is rebuilt after a change, the previous one).")
    snapshot: SnapshotInfo


def hypervisor_use(row: Any, threshold: float, vms: dict[str, int] | None = None) -> HypervisorUse:
    return HypervisorUse(
        hypervisor_hostname=row["hypervisor_hostname"], hypervisor_id=row["hypervisor_id"], host=row["host"],
        state=row["state"], status=row["status"], disabled_reason=row["service_disabled_reason"],
        running_vms=_vms(row, vms), capacity_source=row["capacity_source"],
        **{k: ResourceUse(**capq.resource_detail(row, k)) for k in capq.RESOURCES},
        pressure_pct=row["pressure_pct"], hot=capq.hot_resources(row, threshold),
    )


def _vms(row: Any, vms: dict[str, int] | None) -> int | None:
    if row["running_vms"] is not None:
        return int(row["running_vms"])
    if vms is None:
        return None
    return vms.get(row["hypervisor_hostname"], 0)


def hypervisor_pressure(row: Any, threshold: float, vms: dict[str, int]) -> HypervisorPressure:
    return HypervisorPressure(
        hypervisor_hostname=row["hypervisor_hostname"], state=row["state"], status=row["status"],
        running_vms=_vms(row, vms), pressure_pct=row["pressure_pct"], hot=capq.hot_resources(row, threshold),
        vcpus_used_pct=row["vcpus_pct"], memory_used_pct=row["memory_mb_pct"], disk_used_pct=row["disk_gb_pct"],
    )


def instances_on(conn: Connection, cloud: str, hostnames: list[str]) -> dict[str, int]:
    """Live instances per hypervisor hostname, for these hypervisors only (one GROUP BY)."""
    names = sorted({h for h in hostnames if h})
    if not names:
        return {}
    s = servers
    rows = conn.execute(select(s.c.hypervisor_hostname, func.count()).where(
        live(s, cloud), s.c.hypervisor_hostname.in_(names)).group_by(s.c.hypervisor_hostname)).all()
    return {h: int(n) for h, n in rows}


def load_totals(conn: Connection, cloud: str) -> CapacityTotals:
    cap = capq.capacity_query(cloud).subquery("cap")
    t = conn.execute(capq.totals_query(cap)).mappings().one()
    ratios: dict[str, list[RatioCount]] = {}
    rc_key = {rc: key for key, (rc, _a, _b) in capq.RESOURCES.items()}
    for rc, ratio, n in conn.execute(capq.ratios_query(cloud)).all():
        ratios.setdefault(rc_key[rc], []).append(RatioCount(allocation_ratio=ratio, providers=n))
    res = {}
    for key in capq.RESOURCES:
        c, u = t[f"{key}_capacity"], t[f"{key}_used"]
        res[key] = ResourceTotal(
            capacity=capq._num(c), used=capq._num(u), physical=capq._num(t[f"{key}_physical"]),
            used_pct=round(100.0 * float(u) / float(c), 1) if c and u is not None else None,
            hypervisors_known=int(t[f"{key}_known"] or 0), allocation_ratios=ratios.get(key, []),
        )
    unknown = int(t["unknown"] or 0)
    note = None
    if unknown:
        note = (f"Capacity unknown for {unknown} hypervisor(s): no Placement resource provider matches them and the "
                "compute API (2.88+) no longer reports capacity fields. Sync resource_providers to see it.")
    return CapacityTotals(
        hypervisors=int(t["hypervisors"] or 0),
        capacity_sources={"placement": int(t["from_placement"] or 0), "hypervisor": int(t["from_hypervisor"] or 0),
                          "unknown": unknown},
        note=note, **res,
    )


def top_projects(conn: Connection, cloud: str, by: str, n: int = TOP_PROJECTS) -> list[ProjectUse]:
    s, f, p = servers, flavors, projects
    vcpus = func.sum(func.coalesce(s.c.flavor_vcpus, f.c.vcpus, 0)).label("vcpus")
    ram = func.sum(func.coalesce(s.c.flavor_ram_mb, f.c.ram_mb, 0)).label("ram_mb")
    agg = (
        select(s.c.project_id, func.count().label("instances"), vcpus, ram)
        .select_from(s.outerjoin(f, (f.c.cloud == s.c.cloud) & (f.c.id == s.c.flavor_id)))
        .where(live(s, cloud), s.c.status != "SHELVED_OFFLOADED")
        .group_by(s.c.project_id).order_by(desc(by), *ordered(s.c.project_id)).limit(n)
    ).subquery("agg")
    stmt = select(agg, p.c.name.label("project_name")).select_from(
        agg.outerjoin(p, (p.c.cloud == cloud) & (p.c.id == agg.c.project_id))).order_by(*ordered(desc(agg.c[by]), agg.c.project_id))
    return [ProjectUse.model_validate(dict(r)) for r in conn.execute(stmt).mappings().all()]


NAME = "monitor_resources"
DEFAULTS = (80.0, 90.0, 5, 0)  # threshold_warn, threshold_crit, limit, offset: rebuilt in the background


async def monitor_answer(app: AppContext, *, threshold_warn: float, threshold_crit: float, limit: int,
                         offset: int) -> ReportAnswer[ResourceMonitor]:
    """The report from the cache (:mod:`app.services.cache`): the default arguments' is rebuilt in the
    background after each change of its data (:func:`rebuild`), others are computed once per data version.
    Everything in the answer but its freshness block comes with the entry: its key is the served state's."""
    check_window(limit, offset)
    if not 0 < threshold_warn <= threshold_crit:
        raise InvalidArgument("thresholds must satisfy 0 < threshold_warn <= threshold_crit (percent), "
                              f"got warn={threshold_warn}, crit={threshold_crit}.")
    params = (threshold_warn, threshold_crit, limit, offset)
    served = await app.reports.serve(app, NAME, params, KINDS, _compute(app, params), background=params == DEFAULTS)
    return ReportAnswer(lambda: _answer(served), served.key, served.snapshot, served.memo)


async def monitor_resources(app: AppContext, *, threshold_warn: float, threshold_crit: float, limit: int,
                            offset: int) -> ResourceMonitor:
    """The report as a model (:func:`monitor_answer`, built)."""
    return (await monitor_answer(app, threshold_warn=threshold_warn, threshold_crit=threshold_crit, limit=limit,
                                 offset=offset)).build()


def _answer(served: Served[MonitorFigures]) -> ResourceMonitor:
    fig = served.value
    return ResourceMonitor(**{**dict(fig), "summary": served.summary(fig.summary)}, computed=served.computed,
                           snapshot=served.snapshot)


async def rebuild(app: AppContext) -> bool:
    """Bring the default report up to the current data version (the background rebuilder's job)."""
    return await app.reports.refresh(app, NAME, DEFAULTS, KINDS, _compute(app, DEFAULTS))


def _compute(app: AppContext, params: tuple[float, float, int, int]) -> Callable[[Connection, SnapshotInfo],
                                                                                  MonitorFigures]:
    return lambda conn, snapshot: compute(conn, snapshot, app.cloud_name, *params)


def compute(conn: Connection, snapshot: SnapshotInfo, cloud: str, threshold_warn: float, threshold_crit: float,
            limit: int, offset: int) -> MonitorFigures:
    """The report read on ``conn`` (one transaction, the one of ``snapshot``)."""
    cap = capq.capacity_query(cloud).subquery("cap")
    loaded = ordered(desc(cap.c.pressure_pct), cap.c.hypervisor_hostname, cap.c.hypervisor_id)

    def rows(stmt: Any) -> list[Any]:
        return list(conn.execute(stmt).mappings().all())

    total = conn.execute(select(func.count()).select_from(cap)).scalar_one()
    page = rows(select(cap).order_by(*ordered(cap.c.hypervisor_hostname, cap.c.hypervisor_id)).limit(limit).offset(offset))
    over = {}
    for name, thr in (("warn", threshold_warn), ("crit", threshold_crit)):
        cond = capq.over_threshold(cap, thr)
        n = conn.execute(select(func.count()).select_from(cap).where(cond)).scalar_one()
        over[name] = (int(n), rows(select(cap).where(cond).order_by(*loaded).limit(OVER_N)))
    top = rows(select(cap).where(cap.c.pressure_pct.is_not(None)).order_by(*loaded).limit(TOP_N))
    totals = load_totals(conn, cloud)
    by_vcpus = top_projects(conn, cloud, "vcpus")
    by_ram = top_projects(conn, cloud, "ram_mb")
    shown = [*page, *over["warn"][1], *over["crit"][1], *top]
    vms = instances_on(conn, cloud, [r["hypervisor_hostname"] for r in shown if r["running_vms"] is None])
    hu = lambda r: hypervisor_use(r, threshold_warn, vms)  # noqa: E731
    hp = lambda r: hypervisor_pressure(r, threshold_warn, vms)  # noqa: E731
    verdict = assess(snapshot, what="capacity and use figures")
    top_out = [hp(r) for r in top]
    lines = [f"{totals.hypervisors} hypervisors: "
             + ", ".join(f"{k} {getattr(totals, k).used_pct}% used" for k in ("vcpus", "memory_mb", "disk_gb")
                         if getattr(totals, k).used_pct is not None) + "."]
    if not verdict.complete:
        lines.append(verdict.summary)
    if totals.note:
        lines.append(totals.note)
    lines.append(f"{over['crit'][0]} at or above {threshold_crit:g}% (critical), {over['warn'][0]} at or above "
                 f"{threshold_warn:g}% (warning).")
    if top_out:
        lines.append("Most loaded: " + ", ".join(f"{h.hypervisor_hostname} {h.pressure_pct}% ({h.running_vms} VMs)"
                                                  for h in top_out[:5]) + ".")
    if by_vcpus:
        lines.append("Top projects by vCPUs: " + ", ".join(f"{p.project_name or p.project_id} {p.vcpus}"
                                                          for p in by_vcpus[:3]) + ".")
    return MonitorFigures(
        **PageInfo.of(int(total), len(page), offset, limit).model_dump(),
        summary="\n".join(lines),
        complete=verdict.complete, coverage=verdict.summary, incomplete=verdict.incomplete,
        hypervisors=[hu(r) for r in page], totals=totals,
        over_warn=[hp(r) for r in over["warn"][1]], over_warn_total=over["warn"][0],
        over_crit=[hp(r) for r in over["crit"][1]], over_crit_total=over["crit"][0],
        top_hypervisors=top_out, top_projects_by_vcpus=by_vcpus, top_projects_by_ram=by_ram,
        threshold_warn=threshold_warn, threshold_crit=threshold_crit,
    )
