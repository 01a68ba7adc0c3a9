"""The health score and the issues of get_cluster_status. docs/health.md documents the same rules;
``RULES`` is the single source (a test checks that the document lists each one).

Score: start at 100, subtract each rule's points (``points`` per item, at most ``cap`` per rule), clamp
to 0..100. Each issue carries its evidence (count, ids/names, capped) and the points it cost.
Rules whose kinds are missing from the snapshot are not evaluated; the ``snapshot_*`` rules report
the missing kinds instead (absent data is never read as "no problem").
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, String, and_, cast, func, literal, select

from app.resources.floating_ips import table as floating_ips
from app.resources.hypervisors import table as hypervisors
from app.resources.servers import table as servers
from app.resources.stacks import table as stacks
from app.resources.volume_snapshots import table as volume_snapshots
from app.resources.volumes import attachments
from app.resources.volumes import table as volumes
from app.services import capacity as capq
from app.services.query import live, ordered, utc_text
from app.services.service_status import services_union


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str  # critical, warning or info
    points: float  # per item (per percent for instances_error)
    cap: float
    kinds: tuple[str, ...]
    doc: str


RULES: dict[str, Rule] = {r.code: r for r in (
    Rule("compute_service_down", "critical", 10, 30, ("compute_services",), "Nova service (nova-compute, conductor, scheduler) down"),
    Rule("volume_service_down", "critical", 8, 24, ("volume_services",), "Cinder service down"),
    Rule("network_agent_down", "warning", 5, 20, ("network_agents",), "Neutron agent not alive"),
    Rule("hypervisor_down", "critical", 5, 15, ("hypervisors",), "hypervisor state down"),
    Rule("hypervisor_disabled", "warning", 2, 10, ("hypervisors",), "hypervisor (its nova-compute) disabled"),
    Rule("hypervisor_full", "warning", 3, 15, ("hypervisors",), "hypervisor pressure_pct at or above the critical threshold (90%)"),
    Rule("instances_error", "warning", 1, 20, ("servers",), "per started percent of instances in ERROR"),
    Rule("instances_stuck", "warning", 1, 10, ("servers",), "instance with a task_state unchanged for longer than stuck_after_minutes"),
    Rule("volumes_error", "warning", 1, 10, ("volumes",), "volume in an error* status"),
    Rule("volume_snapshots_error", "warning", 1, 5, ("volume_snapshots",), "volume snapshot in an error* status"),
    Rule("stacks_failed", "warning", 2, 10, ("stacks",), "Heat stack in a *_FAILED status"),
    Rule("load_balancers_error", "warning", 3, 15, ("load_balancers",), "Octavia load balancer in provisioning ERROR or operating ERROR/DEGRADED"),
    Rule("lb_members_down", "warning", 1, 10, ("lb_pools",), "Octavia pool member ERROR/OFFLINE while admin_state_up is true"),
    Rule("snapshot_missing", "critical", 5, 20, (), "snapshot kind never synced, unavailable or whose last sync failed"),
    Rule("snapshot_stale", "warning", 2, 10, (), "snapshot kind older than twice its poll interval"),
    Rule("volumes_orphaned", "info", 0, 0, ("volumes",), "available volume attached to nothing"),
    Rule("floating_ips_unassociated", "info", 0, 0, ("floating_ips",), "floating IP not associated to a port"),
)}


class IssueItem(BaseModel):
    id: str | None
    name: str | None
    detail: str | None = None


class Issue(BaseModel):
    code: str = Field(description="Rule code (see docs/health.md), e.g. compute_service_down.")
    severity: str = Field(description="critical, warning or info.")
    summary: str = Field(description='Evidence in one line, e.g. "2 nova-compute services down: cmp-7, cmp-9".')
    count: int = Field(description="How many items the issue covers.")
    items: list[IssueItem] = Field(description="The items (capped at max_evidence).")
    items_truncated: bool = Field(description="True if count exceeds the items listed.")
    deduction: float = Field(description="Points this issue took off the health score.")


@dataclass
class Finding:
    rule: Rule
    label: str  # e.g. "nova-compute services down"
    count: int
    items: list[IssueItem]
    units: float | None = None  # scoring units when not the count (percent of ERROR instances)


def _sources(cloud: str, crit: float) -> list[tuple[Any, ...]]:
    """Per SQL rule: (code, from, where, group column or None, id, name, detail, label template). The
    time-dependent rule (instances_stuck) is not here: see :func:`stuck_candidates`."""
    svc = services_union(cloud)
    cap = capq.capacity_query(cloud).subquery("cap")
    s, v, vs, st, h, fip = servers, volumes, volume_snapshots, stacks, hypervisors, floating_ips
    hb = func.coalesce(utc_text(svc.c.last_heartbeat_at), "unknown")
    hb_detail = literal("last heartbeat ") + hb
    return [
        ("compute_service_down", svc, and_(svc.c.service == "compute", svc.c.state == "down"), svc.c.binary, svc.c.id, svc.c.host, hb_detail, "{binary} services down"),
        ("volume_service_down", svc, and_(svc.c.service == "block_storage", svc.c.state == "down"), svc.c.binary, svc.c.id, svc.c.host, hb_detail, "{binary} services down"),
        ("network_agent_down", svc, and_(svc.c.service == "network", svc.c.state == "down"), svc.c.binary, svc.c.id, svc.c.host, hb_detail, "{binary} agents down"),
        ("hypervisor_down", h, and_(live(h, cloud), h.c.state == "down"), None, h.c.id, h.c.hypervisor_hostname, h.c.host, "hypervisors down"),
        ("hypervisor_disabled", h, and_(live(h, cloud), h.c.status == "disabled"), None, h.c.id, h.c.hypervisor_hostname, h.c.service_disabled_reason, "hypervisors disabled"),
        ("hypervisor_full", cap, capq.over_threshold(cap, crit), None, cap.c.hypervisor_id, cap.c.hypervisor_hostname,
         literal("pressure ") + cast(cap.c.pressure_pct, String) + "%", f"hypervisors at or above {crit:g}%"),
        ("instances_error", s, and_(live(s, cloud), s.c.status == "ERROR"), None, s.c.id, s.c.name, s.c.host, "instances in ERROR"),
        ("volumes_error", v, and_(live(v, cloud), v.c.status.like("error%")), None, v.c.id, v.c.name, v.c.status, "volumes in error"),
        ("volume_snapshots_error", vs, and_(live(vs, cloud), vs.c.status.like("error%")), None, vs.c.id, vs.c.name, vs.c.status, "volume snapshots in error"),
        ("stacks_failed", st, and_(live(st, cloud), st.c.status.like("%\\_FAILED", escape="\\")), None, st.c.id, st.c.name, st.c.status_reason, "failed stacks"),
        ("volumes_orphaned", v, and_(live(v, cloud), v.c.status == "available", ~orphan_exists(cloud)), None, v.c.id, v.c.name,
         cast(v.c.size_gb, String) + " GiB", "orphaned volumes (available, attached to nothing)"),
        ("floating_ips_unassociated", fip, and_(live(fip, cloud), fip.c.port_id.is_(None)), None, fip.c.id,
         fip.c.floating_ip_address, fip.c.status, "floating IPs not associated"),
    ]


def orphan_exists(cloud: str) -> Any:
    """A volume_attachments row exists for the outer query's volume."""
    return select(attachments.c.volume_id).where(
        attachments.c.cloud == cloud, attachments.c.volume_id == volumes.c.id).exists()


def sql_findings(conn: Connection, cloud: str, ok_kinds: set[str], *, crit: float,
                       max_evidence: int, instances_total: int | None) -> list[Finding]:
    """Run every SQL rule whose kinds are in the snapshot: one query per rule returning, per group, the
    first ``max_evidence`` items (ROW_NUMBER) and the group's count (COUNT(*) OVER)."""
    out: list[Finding] = []
    for code, src, where, group, id_col, name_col, detail, label in _sources(cloud, crit):
        rule = RULES[code]
        if not set(rule.kinds) <= ok_kinds:
            continue
        g = group if group is not None else literal("")
        rn = func.row_number().over(partition_by=g, order_by=ordered(name_col, id_col)).label("rn")
        n_in_group = func.count().over(partition_by=g).label("n")
        sample = select(g.label("g"), id_col.label("id"), name_col.label("name"), detail.label("detail"), rn,
                        n_in_group).select_from(src).where(where).subquery("sample")
        rows = conn.execute(select(sample).where(sample.c.rn <= max_evidence)
                            .order_by(*ordered(sample.c.g, sample.c.rn))).mappings().all()
        counts = {r["g"]: r["n"] for r in rows}
        for key in sorted(counts, key=lambda k: (k is None, k or "")):
            items = [IssueItem(id=r["id"], name=r["name"], detail=r["detail"]) for r in rows if r["g"] == key]
            n = int(counts[key])
            units = None
            if code == "instances_error" and instances_total:
                units = math.ceil(100.0 * n / instances_total)
            out.append(Finding(rule, label.format(binary=key or "unknown"), n, items, units))
    return out


@dataclass(frozen=True)
class StuckCandidate:
    """A live instance with a task_state: stuck once its ``updated_at`` is older than the cut."""

    updated_at: datetime
    id: str
    name: str | None
    task_state: str


def stuck_candidates(conn: Connection, cloud: str) -> list[StuckCandidate]:
    """Every live instance with a task_state, in evidence order (name, id). The instances_stuck rule
    applies its time cut to these when answering (:func:`stuck_finding`), so a cached report stays
    right as the clock moves without reading the servers again (task states are transient: few rows)."""
    s = servers
    rows = conn.execute(select(s.c.updated_at, s.c.id, s.c.name, s.c.task_state).where(
        live(s, cloud), s.c.task_state.is_not(None), s.c.updated_at.is_not(None)).order_by(*ordered(s.c.name, s.c.id)))
    return [StuckCandidate(*r) for r in rows]


def stuck_cut(now: datetime, stuck_minutes: int) -> datetime:
    """An instance whose task_state has not changed since before this is stuck at ``now``."""
    return now - timedelta(minutes=stuck_minutes)


def stuck_at(candidates: list[StuckCandidate], before: datetime) -> list[StuckCandidate]:
    """The candidates stuck at the cut ``before`` (:func:`stuck_cut`), in evidence order. As the cut only
    grows the set, how many there are (``bisect_left`` on the sorted ``updated_at`` values) says which."""
    return [c for c in candidates if c.updated_at < before]


def stuck_finding(stuck: list[StuckCandidate], max_evidence: int) -> Finding | None:
    """instances_stuck over the candidates found stuck (:func:`stuck_at`)."""
    if not stuck:
        return None
    items = [IssueItem(id=c.id, name=c.name, detail=f"{c.task_state} since {c.updated_at:%Y-%m-%dT%H:%M:%SZ}")
             for c in stuck[:max_evidence]]
    return Finding(RULES["instances_stuck"], "instances stuck in a task state", len(stuck), items)


def finding_key(finding: Finding, max_evidence: int) -> Hashable:
    """What an answer shows of ``finding`` with ``max_evidence`` items: equal keys, equal issues."""
    return (finding.rule.code, finding.label, finding.count, finding.units,
            tuple((i.id, i.name, i.detail) for i in finding.items[:max_evidence]))


def clipped(finding: Finding, max_evidence: int) -> Finding:
    """The finding with at most ``max_evidence`` items (reports keep up to MAX_EVIDENCE, answers fewer)."""
    if len(finding.items) <= max_evidence:
        return finding
    return Finding(finding.rule, finding.label, finding.count, finding.items[:max_evidence], finding.units)


def freshness_findings(snapshot: Any) -> list[Finding]:
    missing, stale = [], []
    for k in snapshot.kinds:
        if k.status in ("never_synced", "unavailable", "failed"):
            missing.append(IssueItem(id=k.kind, name=k.kind, detail=k.status + (f": {k.last_error}" if k.last_error else "")))
        elif k.status == "stale":
            stale.append(IssueItem(id=k.kind, name=k.kind, detail=f"{k.age_seconds:.0f}s old" if k.age_seconds else "stale"))
    out = []
    if missing:
        out.append(Finding(RULES["snapshot_missing"], "snapshot kinds missing or failed", len(missing), missing))
    if stale:
        out.append(Finding(RULES["snapshot_stale"], "snapshot kinds stale", len(stale), stale))
    return out


def score(findings: list[Finding], max_evidence: int) -> tuple[int, list[Issue]]:
    """Issues with their deductions (each rule's cap shared by its issues, in order) and the score."""
    spent: dict[str, float] = {}
    issues = []
    for f in findings:
        r = f.rule
        want = r.points * (f.units if f.units is not None else f.count)
        took = max(0.0, min(want, r.cap - spent.get(r.code, 0.0)))
        spent[r.code] = spent.get(r.code, 0.0) + took
        names = ", ".join(i.name or i.id or "?" for i in f.items[:max_evidence])
        more = f" (+{f.count - len(f.items)} more)" if f.count > len(f.items) else ""
        issues.append(Issue(code=r.code, severity=r.severity, summary=f"{f.count} {f.label}: {names}{more}",
                            count=f.count, items=f.items, items_truncated=f.count > len(f.items), deduction=took))
    order = {"critical": 0, "warning": 1, "info": 2}
    issues.sort(key=lambda i: (order.get(i.severity, 3), -i.deduction, i.code))
    total = sum(spent.values())
    return int(max(0, min(100, round(100 - total)))), issues


def rules_table() -> list[dict[str, Any]]:
    return [{"code": r.code, "severity": r.severity, "points": r.points, "cap": r.cap, "rule": r.doc} for r in RULES.values()]


__all__ = ["RULES", "Issue", "IssueItem", "StuckCandidate", "clipped", "freshness_findings", "rules_table", "score",
           "sql_findings", "stuck_at", "stuck_candidates", "stuck_cut", "stuck_finding", "finding_key"]
