"""Capacity planning: can N instances of a flavor fit, where, and what blocks them (``plan_capacity``).

Per live hypervisor, :mod:`app.services.planning_read` decides where capacity comes from
(the matching Placement resource provider, else the hypervisor's own fields before compute 2.88, else
unknown); this module adds what a fit needs beyond fill levels:

* **placement** source: per resource class the flavor asks for, the provider's inventory ``total``,
  ``reserved``, ``allocation_ratio``, ``min_unit``, ``max_unit``, ``step_size`` and its usage.
  Placement's own rule decides: one instance fits while ``used + amount <= (total - reserved) *
  allocation_ratio``, with ``min_unit <= amount <= max_unit`` and ``amount % step_size == 0``; so a
  host takes ``floor((capacity - used) / amount)`` more, per resource, and the smallest of those is the
  host's fit and its first constraint to run out. Resource classes other than VCPU, MEMORY_MB and
  DISK_GB (``resources:VGPU=1`` in the flavor's extra specs) are looked up in the host's provider tree.
  A compute node without DISK_GB inventory may take disk from a sharing provider, which is not
  modelled: its fit is unknown, not zero.
* **hypervisor** source (no Placement data, compute API below 2.88): RAM and disk against the
  hypervisor's physical totals (allocation ratios are unknown there, so this is a lower bound); vCPUs
  are not counted (their overcommit ratio is unknown).
* neither: the host's fit is unknown, counted apart, never invented.

Hosts whose nova-compute service is disabled, down or forced down are excluded with the reason (from
``compute_services``, else the hypervisor's own state/status), and so are hosts outside the requested
availability zone (``compute_services.zone``, else the zone listing's hosts).

The request follows Nova's: VCPU = vcpus, MEMORY_MB = ram, DISK_GB = root (0 when booting from a
volume) + ephemeral + swap rounded up to GiB, each overridable by ``resources:<CLASS>`` extra specs.
Everything else the scheduler weighs is listed in ``not_modelled`` with the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select

from app.errors import InvalidArgument, NotFound
from app.resources.flavors import table as flavors
from app.services.completeness import IncompleteKinds, assess
from app.services.models import PageInfo, SnapshotInfo, clip
from app.services.planning_fit import FlavorRequest, ResourceFit, fit_numbers, flavor_request, host_fit
from app.services.planning_read import Host, HostBase, host_base
from app.services.query import close_matches, live, split_csv

if TYPE_CHECKING:
    from app.context import AppContext

MEMO_ENTRIES = 16  # per-host numbers (per flavor request, ~0.3 MB at 2,500 hosts) and selections a base keeps
KINDS = ("hypervisors", "resource_providers", "compute_services", "flavors", "availability_zones")

NOT_MODELLED = [
    "server group affinity / anti-affinity",
    "NUMA topology, CPU pinning (PCPU) and huge pages",
    "PCI / SR-IOV devices and vGPUs on nested providers beyond their inventory",
    "host aggregates and their metadata (AggregateInstanceExtraSpecsFilter, tenant isolation, aggregate "
    "allocation ratios that differ from Placement's)",
    "required / forbidden traits and image properties (ImagePropertiesFilter)",
    "disk from sharing providers (shared storage)",
    "project quotas",
    "allocations made after the snapshot (builds and migrations in flight)",
    "which hosts the scheduler picks (weighers spread or pack instances)",
]
class HostFit(BaseModel):
    host: str | None = Field(description="nova-compute host (service.host).")
    hypervisor_hostname: str | None
    availability_zone: str | None
    capacity_source: str | None = Field(description="placement, hypervisor (API fields before 2.88) or null (unknown).")
    fits: int | None = Field(description="Instances of the flavor this host can still take; null = unknown.")
    limited_by: str | None = Field(description="The first resource to run out on this host (or why none fit).")
    resources: list[ResourceFit]
    note: str | None = None


class ExcludedHost(BaseModel):
    host: str | None
    hypervisor_hostname: str | None
    availability_zone: str | None
    reason: str = Field(description="disabled (with the operator's reason), down (last heartbeat), forced down, "
                                    "not in the zone ...")


class CapacityPlan(BaseModel):
    summary: str = Field(description="The verdict in a few lines: fits or not, how many, what runs out, what is excluded.")
    verdict: str = Field(description="yes (the known capacity holds count), no, or unknown (it does not, but some "
                                     "hosts' capacity is unknown).")
    count: int
    fits_total: int = Field(description="Instances that fit over eligible hosts with known capacity.")
    shortfall: int = Field(description="count - fits_total when positive, else 0.")
    flavor: FlavorRequest
    availability_zone: str | None
    limited_by: str | None = Field(description="Overall, the resource that runs out first: the smallest sum of "
                                                "per-resource fits over eligible hosts.")
    per_resource_fits: dict[str, int] = Field(description="Per resource class, instances that resource alone allows "
                                                          "over eligible hosts with known capacity.")
    limited_by_hosts: dict[str, int] = Field(description="How many hosts each resource limits first.")
    eligible_hosts: int
    hosts_unknown: int = Field(description="Eligible hosts whose capacity is unknown (not counted in fits_total).")
    page: PageInfo
    hosts: list[HostFit] = Field(description="This window of eligible hosts, most room first.")
    excluded_total: int
    excluded: list[ExcludedHost] = Field(description="Hosts left out (disabled, down, other zone), at most 50.")
    not_modelled: list[str] = Field(description="Scheduler filters and weighers this estimate ignores.")
    complete: bool = Field(description="False when a kind the estimate needs has not synced (see coverage).")
    coverage: str
    incomplete: list[IncompleteKinds]
    snapshot: SnapshotInfo


# ---------------------------------------------------------------------------------------------
# the flavor


def _flavor(conn: Connection, cloud: str, flavor: str) -> Any:
    f = flavors
    wanted = flavor.strip()
    row = conn.execute(select(f).where(live(f, cloud), f.c.id == wanted)).first()
    if row is None:
        rows = conn.execute(select(f).where(live(f, cloud), f.c.name == wanted).order_by(f.c.id)).all()
        if not rows:
            rows = conn.execute(select(f).where(live(f, cloud), func.lower(f.c.name) == wanted.lower())
                                .order_by(f.c.id)).all()
        if len(rows) > 1:
            raise InvalidArgument(f"{len(rows)} flavors are named {clip(wanted)}: pass one of their IDs: "
                                  + ", ".join(r.id for r in rows[:10]) + ".")
        row = rows[0] if rows else None
    if row is None:
        names = conn.execute(select(f.c.name).where(live(f, cloud))).scalars().all()
        hint = close_matches(wanted, [n for n in names if n])
        known = "" if hint else f" Known flavors: {', '.join(sorted(n for n in names if n)[:15])}."
        raise NotFound(f"No flavor named (or with ID) {clip(wanted)} in the snapshot.{known} get_flavor_list lists them.",
                       hint)
    return row


# ---------------------------------------------------------------------------------------------
# the plan


async def plan_capacity(app: AppContext, *, flavor: str, count: int, availability_zone: str | None, hosts: str | None,
                        boot_from_volume: bool, limit: int, offset: int) -> CapacityPlan:
    if not 1 <= count <= 1_000_000:
        raise InvalidArgument(f"count must be between 1 and 1000000 (got {count}).")
    if not 1 <= limit <= 50 or offset < 0:
        raise InvalidArgument("limit must be 1..50 and offset >= 0.")
    cloud = app.cloud_name
    wanted_hosts = split_csv(hosts)
    az = availability_zone.strip() if availability_zone and availability_zone.strip() else None

    def read(conn: Connection, snapshot: SnapshotInfo) -> tuple[SnapshotInfo, FlavorRequest, HostBase]:
        req = flavor_request(_flavor(conn, cloud, flavor), boot_from_volume)
        return snapshot, req, host_base(conn, app.db, cloud)

    snapshot, req, base = await app.read(KINDS, read)
    if az is not None and az not in base.zones:
        raise NotFound(f"No availability zone {clip(az)} in the snapshot (known: {', '.join(base.zones) or 'none'}); "
                       "get_availability_zones lists them.", close_matches(az, base.zones))
    if wanted_hosts:
        names = {n for h in base.hosts for n in (h.host, h.hypervisor_hostname) if n}
        missing = [h for h in wanted_hosts if h not in names]
        if missing:
            raise NotFound(f"No hypervisor host {clip(missing[0])} in the snapshot; hosts= takes exact host or "
                           "hypervisor names (get_hypervisor_list).", close_matches(missing[0], sorted(names)))
    sel = _selection(base, req.request, az, tuple(wanted_hosts))
    verdict = "yes" if sel.fits_total >= count else ("unknown" if sel.unknown else "no")
    page = [_host_fit(h, req.request, base) for h in sel.eligible[offset:offset + limit]]
    verdict_ = assess(snapshot, what="capacity figures")
    plan = CapacityPlan(
        summary="", verdict=verdict, count=count, fits_total=sel.fits_total,
        shortfall=max(0, count - sel.fits_total), flavor=req, availability_zone=az, limited_by=sel.limited_by,
        per_resource_fits=sel.per_rc, limited_by_hosts=sel.by_host, eligible_hosts=len(sel.eligible),
        hosts_unknown=sel.unknown, page=PageInfo.of(len(sel.eligible), len(page), offset, limit), hosts=page,
        excluded_total=len(sel.excluded),
        excluded=[ExcludedHost(host=h.host, hypervisor_hostname=h.hypervisor_hostname,
                               availability_zone=h.availability_zone, reason=reason) for h, reason in sel.excluded[:50]],
        not_modelled=[*req.ignored_extra_specs, *NOT_MODELLED], complete=verdict_.complete,
        coverage=verdict_.summary, incomplete=verdict_.incomplete, snapshot=snapshot)
    plan.summary = _summary(plan)
    return plan


@dataclass(frozen=True)
class _Selection:
    """A plan's figures for one flavor request, zone and host list, whatever the count and page."""

    eligible: list[Host]  # most room first
    excluded: list[tuple[Host, str]]  # with the reason, by name
    fits_total: int
    unknown: int
    per_rc: dict[str, int]
    by_host: dict[str, int]  # most hosts first

    @property
    def limited_by(self) -> str | None:
        return min(self.per_rc, key=lambda k: self.per_rc[k]) if self.per_rc else None


def _selection(base: HostBase, request: dict[str, int], az: str | None, wanted: tuple[str, ...]) -> _Selection:
    """Which hosts are eligible and what they hold, kept on the base like :func:`_numbers`."""
    key = ("selection", tuple(request.items()), az, wanted)
    kept = base.memo.get(key)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    eligible: list[tuple[Host, int | None, str | None, tuple[int | None, ...]]] = []
    excluded: list[tuple[Host, str]] = []
    for h, (n, limited, per) in zip(base.hosts, _numbers(base, request), strict=True):
        if wanted and h.host not in wanted and h.hypervisor_hostname not in wanted:
            continue
        reason = h.excluded
        if reason is None and az is not None and h.availability_zone != az:
            reason = f"in zone {h.availability_zone}, not {az}" if h.availability_zone else \
                "zone unknown (its nova-compute service is not in the snapshot)"
        if reason is not None:
            excluded.append((h, reason))
        else:
            eligible.append((h, n, limited, per))
    fits_total, unknown = 0, 0
    per_rc: dict[str, int] = {}
    by_host: dict[str, int] = {}
    classes = list(request)
    for _h, n, limited, per in eligible:
        if n is None:
            unknown += 1
            continue
        fits_total += n
        for rc, fits in zip(classes, per, strict=True):
            if fits is not None:
                per_rc[rc] = per_rc.get(rc, 0) + fits
        if limited:
            by_host[limited] = by_host.get(limited, 0) + 1
    eligible.sort(key=lambda e: (e[1] is None, -(e[1] or 0), e[0].hypervisor_hostname or ""))
    sel = _Selection([e[0] for e in eligible], excluded, fits_total, unknown, per_rc,
                     dict(sorted(by_host.items(), key=lambda kv: -kv[1])))
    _keep(base, key, sel)
    return sel


def _keep(base: HostBase, key: Any, value: Any) -> None:
    while len(base.memo) >= MEMO_ENTRIES:
        base.memo.pop(next(iter(base.memo)))
    base.memo[key] = value


def _numbers(base: HostBase, request: dict[str, int]) -> list[tuple[int | None, str | None, tuple[int | None, ...]]]:
    """:func:`fit_numbers` of every host of ``base`` for ``request``, kept on the base for the next plan
    of the same request (another count, zone, host list or page) at the same data versions."""
    key = ("numbers", tuple(request.items()))
    kept = base.memo.get(key)
    if kept is None:
        kept = [fit_numbers(h, request, base.slots, base.tree) for h in base.hosts]
        _keep(base, key, kept)
    return kept  # type: ignore[no-any-return]


def _host_fit(h: Host, request: dict[str, int], base: HostBase) -> HostFit:
    n, limited, fits, note = host_fit(h, request, base.slots, base.tree)
    return HostFit(host=h.host, hypervisor_hostname=h.hypervisor_hostname, availability_zone=h.availability_zone,
                   capacity_source=h.capacity_source, fits=n, limited_by=limited, resources=[f.model() for f in fits],
                   note=note)


def _summary(p: CapacityPlan) -> str:
    where = f" in {p.availability_zone}" if p.availability_zone else ""
    name = p.flavor.name or p.flavor.id
    req = ", ".join(f"{k} {v}" for k, v in p.flavor.request.items())
    lines = []
    if p.verdict == "yes":
        lines.append(f"Yes: {p.count} x {name} ({req}) fit{where}: room for {p.fits_total} on {p.eligible_hosts} "
                     "eligible host(s) (an estimate, see not_modelled).")
    elif p.verdict == "no":
        lines.append(f"No: only {p.fits_total} of {p.count} x {name} ({req}) fit{where} "
                     f"(short by {p.shortfall}) on {p.eligible_hosts} eligible host(s).")
    else:
        lines.append(f"Unknown: known capacity holds {p.fits_total} of {p.count} x {name} ({req}){where}; "
                     f"{p.hosts_unknown} eligible host(s) have unknown capacity.")
    if p.limited_by:
        lines.append(f"First to run out: {p.limited_by} (alone it allows {p.per_resource_fits[p.limited_by]}); "
                     "per host: " + ", ".join(f"{k} on {v}" for k, v in p.limited_by_hosts.items()) + ".")
    top = [h for h in p.hosts if h.fits][:5]
    if top:
        lines.append("Most room: " + ", ".join(f"{h.host or h.hypervisor_hostname} {h.fits}" for h in top) + ".")
    if p.excluded_total:
        reasons = [f"{e.host or e.hypervisor_hostname} ({e.reason})" for e in p.excluded
                   if not e.reason.startswith("in zone")][:4]
        other_zone = sum(1 for e in p.excluded if e.reason.startswith("in zone"))
        text = f"Excluded {p.excluded_total} host(s)"
        if reasons:
            text += ": " + "; ".join(reasons)
        if other_zone:
            text += f"{';' if reasons else ':'} {other_zone} in other zones"
        lines.append(text + ".")
    if p.hosts_unknown and p.verdict != "unknown":
        lines.append(f"{p.hosts_unknown} eligible host(s) have unknown capacity (not counted).")
    if p.flavor.is_disabled:
        lines.append("Note: this flavor is disabled; new instances cannot use it.")
    if p.flavor.ignored_extra_specs:
        lines.append(f"The flavor's extra specs add constraints not modelled: {len(p.flavor.ignored_extra_specs)} "
                     "(see not_modelled).")
    if not p.complete:
        lines.append(p.coverage)
    if p.page.has_more:
        lines.append(f"Hosts {p.page.offset + 1}-{p.page.offset + p.page.returned} of {p.page.total} shown; "
                     f"next page: offset={p.page.offset + p.page.returned}.")
    return "\n".join(lines)
