"""The whole-cloud report (the get_cluster_status tool): counts by GROUP BY per kind, capacity totals,
service health, the health score and its issues (:mod:`app.services.health`).

Only kinds that completed a sync give facts (:mod:`app.services.completeness`). Until then a kind's
counts are ``null`` (nothing in the snapshot yet: listed in ``unknown_kinds``) or, while its first
sync is writing pages, the rows so far, with the fields listed in ``partial``; ``complete`` is false,
``incomplete`` says why (the OpenStack error a failed run recorded), and there is no ``health_score``
until every kind it is computed from has synced (kinds unavailable to the account excepted: the score
then covers what the account can see, and says so)."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Table, case, func, select

from app.db.engine import utcnow
from app.errors import InvalidArgument
from app.resources.registry import get_spec
from app.resources.floating_ips import table as floating_ips
from app.resources.hypervisors import table as hypervisors
from app.resources.networks import table as networks
from app.resources.routers import table as routers
from app.resources.security_groups import table as security_groups
from app.resources.servers import table as servers
from app.resources.stacks import table as stacks
from app.resources.volume_snapshots import table as volume_snapshots
from app.resources.volume_types import table as volume_types
from app.resources.volumes import table as volumes
from app.services import health, lb_health
from app.services.cache import Computed, ReportAnswer, Served
from app.services.completeness import IncompleteKinds, assess, incomplete_kinds
from app.services.query import ordered
from app.services.models import SnapshotInfo
from app.services.resources_monitor import CapacityTotals, load_totals
from app.services.service_status import ServiceCount, services_union

if TYPE_CHECKING:
    from app.context import AppContext

KINDS = ("hypervisors", "resource_providers", "servers", "networks", "floating_ips", "routers", "security_groups",
         "volumes", "volume_snapshots", "volume_types", "stacks", "compute_services", "network_agents",
         "volume_services")
NONE_LABEL = "(none)"
# Fields of the report each kind's figures feed (named in `partial` while that kind's totals are partial).
FIELDS = {
    "hypervisors": ("hypervisors",), "resource_providers": ("hypervisors.capacity",), "servers": ("instances",),
    "networks": ("network.networks",),
    "floating_ips": ("network.floating_ips", "network.floating_ips_associated", "network.floating_ips_unassociated"),
    "routers": ("network.routers",), "security_groups": ("network.security_groups",),
    "volumes": ("storage.volumes", "storage.volumes_by_status", "storage.volume_gb", "storage.orphaned_volumes"),
    "volume_snapshots": ("storage.snapshots", "storage.snapshots_by_status"), "volume_types": ("storage.volume_types",),
    "stacks": ("stacks",), "compute_services": ("services",), "network_agents": ("services",),
    "volume_services": ("services",),
}
TABLES = {"hypervisors": hypervisors, "servers": servers, "networks": networks, "floating_ips": floating_ips,
          "routers": routers, "security_groups": security_groups, "volumes": volumes,
          "volume_snapshots": volume_snapshots, "volume_types": volume_types, "stacks": stacks}


class HypervisorSummary(BaseModel):
    total: int
    up: int
    down: int
    enabled: int
    disabled: int
    capacity: CapacityTotals = Field(description="CPU/RAM/disk capacity and use over all hypervisors.")


class InstanceSummary(BaseModel):
    total: int
    by_status: dict[str, int]
    by_availability_zone: dict[str, int] = Field(description=f"Instances per AZ ({NONE_LABEL!r}: not scheduled).")


class NetworkSummary(BaseModel):
    networks: int | None = Field(description="null = networks not in the snapshot.")
    floating_ips: int | None
    floating_ips_associated: int | None
    floating_ips_unassociated: int | None
    routers: int | None
    security_groups: int | None


class StorageSummary(BaseModel):
    volumes: int | None = Field(description="null = volumes not in the snapshot.")
    volumes_by_status: dict[str, int] | None
    volume_gb: int | None = Field(description="Sum of live volume sizes.")
    orphaned_volumes: int | None = Field(description="Available volumes attached to nothing.")
    snapshots: int | None
    snapshots_by_status: dict[str, int] | None
    volume_types: int | None


class StackSummary(BaseModel):
    total: int
    by_status: dict[str, int]


class ServiceHealth(BaseModel):
    total: int
    down: int
    disabled: int
    by_binary: list[ServiceCount] = Field(description="Counts per service, binary, state and status.")


class ClusterStatus(BaseModel):
    summary: str = Field(description="A few lines: health score, totals, the most severe issues with their evidence.")
    complete: bool = Field(description="True when every kind this report reads has completed a sync: every figure is "
                                       "a fact as of snapshot.as_of (stale ones are flagged in snapshot). False: "
                                       "see coverage, incomplete and partial.")
    coverage: str = Field(description="One line: complete, or which kinds are not known yet and why.")
    health_score: int | None = Field(description="0-100: 100 minus the deductions of the issues (rules in docs/health.md). "
                                                 "null until every kind it is computed from has synced.")
    issues: list[health.Issue] = Field(description="Detected problems with evidence, most severe first.")
    hypervisors: HypervisorSummary | None = Field(description="null = hypervisors never synced.")
    instances: InstanceSummary | None = Field(description="null = servers never synced.")
    network: NetworkSummary
    storage: StorageSummary
    stacks: StackSummary | None
    services: ServiceHealth | None = Field(description="null = no service kind synced.")
    incomplete: list[IncompleteKinds] = Field(description="Kinds whose figures are not facts yet, with why (empty when complete).")
    partial: list[str] = Field(description="Fields holding only the rows synced so far (a first sync is running "
                                           "or failed part-way): lower bounds, not totals.")
    unknown_kinds: list[str] = Field(description="Kinds with nothing in the snapshot yet: their counts are null (unknown), not zero.")
    score_rules: list[dict[str, Any]] = Field(description="The scoring rules: code, severity, points per item, cap "
                                                          "(only with include_rules=true; docs/health.md lists them).")
    computed: Computed = Field(description="Which data version the figures summarise (current or, while the "
                                           "report is rebuilt after a change, the previous one).")
    snapshot: SnapshotInfo


def _count(conn: Connection, t: Table, cloud: str, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(t).where(
        t.c.cloud == cloud, t.c.deleted_at.is_(None), *where)).scalar_one())


def _by(conn: Connection, t: Table, col: Any, cloud: str) -> dict[str, int]:
    key = func.coalesce(func.nullif(col, ""), NONE_LABEL)
    rows = conn.execute(select(key, func.count()).where(t.c.cloud == cloud, t.c.deleted_at.is_(None))
                        .group_by(key).order_by(func.count().desc(), key)).all()
    return {k: int(n) for k, n in rows}


MAX_EVIDENCE = 50
TOP_ISSUES = 5


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def summary_text(score: int | None, coverage: str, complete: bool, issues: list[health.Issue],
                 hyp: HypervisorSummary | None, inst: InstanceSummary | None, storage: StorageSummary,
                 services: ServiceHealth | None) -> str:
    """The report's first lines: score, totals, the most severe issues."""
    lines = [f"Health score {score}/100." if score is not None else "No health score yet (kinds still syncing)."]
    if not complete:
        lines.append(coverage)
    facts = []
    if hyp is not None:
        facts.append(f"{hyp.total} hypervisors ({hyp.down} down, {hyp.disabled} disabled)")
    if inst is not None:
        facts.append(f"{inst.total} instances ({inst.by_status.get('ERROR', 0)} ERROR)")
    if storage.volumes is not None:
        facts.append(f"{storage.volumes} volumes ({storage.orphaned_volumes} orphaned)")
    if services is not None:
        facts.append(f"{services.total} services ({services.down} down, {services.disabled} disabled)")
    if facts:
        lines.append("; ".join(facts) + ".")
    if issues:
        lines.append(f"{len(issues)} issues, most severe first:")
        lines += [f"- [{i.severity}] {_clip(i.summary)} (-{i.deduction:g})" for i in issues[:TOP_ISSUES]]
        if len(issues) > TOP_ISSUES:
            lines.append(f"- ... {len(issues) - TOP_ISSUES} more in `issues`.")
    else:
        lines.append("No issues found.")
    return "\n".join(lines)


DEFAULT_CRIT = 90.0
NAME = "cluster_status"


@dataclass(frozen=True)
class Figures:
    """What a cluster report computes from the snapshot (cached per data version, :mod:`app.services.cache`);
    the time- and freshness-dependent parts (stuck instances, snapshot_* rules, score) come when answering."""

    hyp: HypervisorSummary | None
    inst: InstanceSummary | None
    net: NetworkSummary
    storage: StorageSummary
    stk: StackSummary | None
    services: ServiceHealth | None
    findings: list[health.Finding]  # the SQL rules, up to MAX_EVIDENCE items each
    stuck: list[health.StuckCandidate] | None  # None: servers are not a fact, the rule is not evaluated
    stuck_times: list[datetime]  # the candidates' updated_at, sorted
    so_far: dict[str, int]
    unknown: list[str]
    partial: list[str]


def check_args(stuck_after_minutes: int, max_evidence: int, threshold_crit: float) -> None:
    if not 1 <= stuck_after_minutes <= 10080:
        raise InvalidArgument("stuck_after_minutes must be between 1 and 10080 (a week).")
    if not 1 <= max_evidence <= MAX_EVIDENCE:
        raise InvalidArgument(f"max_evidence must be between 1 and {MAX_EVIDENCE} (get_service_status, "
                              "search_instances and the list tools page through all of them).")
    if not 0 < threshold_crit <= 1000:
        raise InvalidArgument("threshold_crit must be a percentage above 0.")


async def status_answer(app: AppContext, *, stuck_after_minutes: int, max_evidence: int,
                        threshold_crit: float, include_rules: bool = False) -> ReportAnswer[ClusterStatus]:
    """The report from the cache: the figures of the current data version (the default threshold's are
    rebuilt in the background after each change, see :func:`rebuild`), cut and scored now. Its key holds
    everything the answer takes from outside the entry: the served state, the arguments, the stuck cut
    (the clock), the load-balancer findings and the sync states of the snapshot block."""
    check_args(stuck_after_minutes, max_evidence, threshold_crit)
    served = await app.reports.serve(app, NAME, threshold_crit, KINDS, _figures(app, threshold_crit),
                                     background=threshold_crit == DEFAULT_CRIT,
                                     also=lb_health.findings_in(app, max_evidence))
    f, lb = served.value, served.also
    before = health.stuck_cut(utcnow(), stuck_after_minutes)
    stuck = None if f.stuck is None else bisect_left(f.stuck_times, before)  # how many: which (health.stuck_at)
    key = (served.key, max_evidence, include_rules, states_key(served.snapshot), stuck,
           tuple(health.finding_key(x, max_evidence) for x in lb))

    def build() -> ClusterStatus:
        return answer(served, stuck=None if f.stuck is None else health.stuck_at(f.stuck, before),
                      max_evidence=max_evidence, include_rules=include_rules, extra=lb)

    return ReportAnswer(build, key, served.snapshot, served.memo)


async def cluster_status(app: AppContext, *, stuck_after_minutes: int, max_evidence: int,
                         threshold_crit: float, include_rules: bool = False) -> ClusterStatus:
    """The report as a model (:func:`status_answer`, built)."""
    return (await status_answer(app, stuck_after_minutes=stuck_after_minutes, max_evidence=max_evidence,
                                threshold_crit=threshold_crit, include_rules=include_rules)).build()


def states_key(snapshot: SnapshotInfo) -> Hashable:
    """Everything :func:`answer` reads from the snapshot block besides the block itself: each kind's sync
    state (the completeness verdict, the snapshot_* rules) and, for a stale kind, its age in whole
    seconds (the snapshot_stale evidence)."""
    return snapshot.stale, snapshot.as_of, tuple(snapshot.missing), tuple(
        (k.kind, k.as_of, k.stale, k.status, k.last_error, f"{k.age_seconds:.0f}" if k.status == "stale" and
         k.age_seconds else None) for k in snapshot.kinds)


async def rebuild(app: AppContext) -> bool:
    """Bring the default report up to the current data version (the background rebuilder's job)."""
    return await app.reports.refresh(app, NAME, DEFAULT_CRIT, KINDS, _figures(app, DEFAULT_CRIT))


def _figures(app: AppContext, threshold_crit: float) -> Callable[[Connection, SnapshotInfo], Figures]:
    return lambda conn, snapshot: figures(conn, snapshot, app.cloud_name, threshold_crit)


def answer(served: Served[Figures], *, stuck: list[health.StuckCandidate] | None, max_evidence: int,
           include_rules: bool, extra: Sequence[health.Finding] = ()) -> ClusterStatus:
    """``stuck``: the candidates stuck now (:func:`health.stuck_at`; None: the rule is not evaluated)."""
    f, snapshot = served.value, served.snapshot
    findings = [health.clipped(x, max_evidence) for x in (*f.findings, *extra)]  # extra: lb_health's
    stuck_issue = None if stuck is None else health.stuck_finding(stuck, max_evidence)
    findings += [stuck_issue] if stuck_issue is not None else []
    findings += health.freshness_findings(snapshot)
    score, issues = health.score(findings, max_evidence)
    states = incomplete_kinds(snapshot)
    verdict = assess(snapshot, rows_so_far=f.so_far, what="counts")
    pending = sorted(k for k, st in states.items() if st != "unavailable")
    coverage = verdict.summary
    if pending:
        score = None  # a score over data that is not there yet would be presented as a fact
        coverage += "; no health score until they have synced."
    elif states:
        coverage += "; the health score covers only what this account can see."
    return ClusterStatus(
        summary=served.summary(summary_text(score, coverage, verdict.complete, issues, f.hyp, f.inst, f.storage,
                                            f.services)),
        complete=verdict.complete, coverage=coverage, health_score=score, issues=issues, hypervisors=f.hyp,
        instances=f.inst, network=f.net, storage=f.storage, stacks=f.stk, services=f.services,
        incomplete=verdict.incomplete, partial=f.partial, unknown_kinds=f.unknown,
        score_rules=health.rules_table() if include_rules else [], computed=served.computed, snapshot=snapshot,
    )


def figures(conn: Connection, snapshot: SnapshotInfo, c: str, threshold_crit: float) -> Figures:
    """Every count and rule of the report, read on ``conn`` (one transaction, the one of ``snapshot``)."""
    states = incomplete_kinds(snapshot)
    facts = set(KINDS) - set(states)  # rules are evaluated on these only
    so_far = {k: _count(conn, get_spec(k).table, c) for k in states}
    # figures shown: facts, and the rows already written for kinds whose first sync is not done
    ok = facts | {k for k, n in so_far.items() if n}
    unknown = set(KINDS) - ok
    hyp = None
    if "hypervisors" in ok:
        st = conn.execute(select(
            func.count(), func.sum(case((hypervisors.c.state == "up", 1), else_=0)),
            func.sum(case((hypervisors.c.state == "down", 1), else_=0)),
            func.sum(case((hypervisors.c.status == "enabled", 1), else_=0)),
            func.sum(case((hypervisors.c.status == "disabled", 1), else_=0)),
        ).where(hypervisors.c.cloud == c, hypervisors.c.deleted_at.is_(None))).one()
        hyp = HypervisorSummary(total=st[0], up=st[1] or 0, down=st[2] or 0, enabled=st[3] or 0,
                                disabled=st[4] or 0, capacity=load_totals(conn, c))
    inst = None
    if "servers" in ok:
        by_status = _by(conn, servers, servers.c.status, c)
        inst = InstanceSummary(total=sum(by_status.values()), by_status=by_status,
                               by_availability_zone=_by(conn, servers, servers.c.availability_zone, c))

    def n(kind: str, t: Table, *where: ColumnElement[bool]) -> int | None:
        return _count(conn, t, c, *where) if kind in ok else None

    net = NetworkSummary(
        networks=n("networks", networks), floating_ips=n("floating_ips", floating_ips),
        floating_ips_associated=n("floating_ips", floating_ips, floating_ips.c.port_id.is_not(None)),
        floating_ips_unassociated=n("floating_ips", floating_ips, floating_ips.c.port_id.is_(None)),
        routers=n("routers", routers), security_groups=n("security_groups", security_groups),
    )
    vol_ok, snap_ok = "volumes" in ok, "volume_snapshots" in ok
    vol_by = _by(conn, volumes, volumes.c.status, c) if vol_ok else None
    snap_by = _by(conn, volume_snapshots, volume_snapshots.c.status, c) if snap_ok else None
    gb = conn.execute(select(func.coalesce(func.sum(volumes.c.size_gb), 0)).where(
        volumes.c.cloud == c, volumes.c.deleted_at.is_(None))).scalar_one() if vol_ok else None
    storage = StorageSummary(
        volumes=sum(vol_by.values()) if vol_by is not None else None, volumes_by_status=vol_by,
        volume_gb=int(gb) if gb is not None else None,
        orphaned_volumes=n("volumes", volumes, volumes.c.status == "available", ~health.orphan_exists(c)),
        snapshots=sum(snap_by.values()) if snap_by is not None else None, snapshots_by_status=snap_by,
        volume_types=n("volume_types", volume_types),
    )
    stk = None
    if "stacks" in ok:
        sb = _by(conn, stacks, stacks.c.status, c)
        stk = StackSummary(total=sum(sb.values()), by_status=sb)
    services = None
    if ok & {"compute_services", "network_agents", "volume_services"}:
        svc = services_union(c)
        keys = (svc.c.service, svc.c.binary, svc.c.state, svc.c.status)
        rows = conn.execute(select(*keys, func.count().label("count")).group_by(*keys).order_by(*ordered(*keys))).mappings().all()
        counts = [ServiceCount.model_validate(dict(r)) for r in rows]
        services = ServiceHealth(total=sum(x.count for x in counts),
                                 down=sum(x.count for x in counts if x.state == "down"),
                                 disabled=sum(x.count for x in counts if x.status == "disabled"), by_binary=counts)
    findings = health.sql_findings(conn, c, facts, crit=threshold_crit, max_evidence=MAX_EVIDENCE,
                                         instances_total=inst.total if inst else None)
    stuck = health.stuck_candidates(conn, c) if "servers" in facts else None
    partial = sorted({f for k in ok & set(states) for f in FIELDS.get(k, ())})
    return Figures(hyp=hyp, inst=inst, net=net, storage=storage, stk=stk, services=services, findings=findings,
                   stuck=stuck, stuck_times=sorted(c.updated_at for c in stuck or ()), so_far=so_far,
                   unknown=sorted(unknown), partial=partial)
