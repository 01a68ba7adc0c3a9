"""Capacity planning: can N instances of a flavor fit, where, and what blocks them (``plan_capacity``).

Per live hypervisor, :func:`app.services.capacity.capacity_query` decides where capacity comes from
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

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, or_, select

from app.errors import InvalidArgument, NotFound
from app.resources.availability_zones import table as zones
from app.resources.compute_services import table as services
from app.resources.flavors import table as flavors
from app.resources.resource_providers import inventories, usages
from app.resources.resource_providers import table as providers
from app.services import capacity as capq
from app.services.completeness import IncompleteKinds, assess
from app.services.inventory import raw_of
from app.services.models import PageInfo, SnapshotInfo, clip
from app.services.planning_fit import FlavorRequest, ResourceFit, flavor_request, host_fit
from app.services.query import close_matches, live, split_csv

if TYPE_CHECKING:
    from app.context import AppContext

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

    def read(conn: Connection, snapshot: SnapshotInfo) -> tuple[Any, ...]:
        frow = _flavor(conn, cloud, flavor)
        req = flavor_request(frow, boot_from_volume)
        rows = list(conn.execute(capq.capacity_query(cloud)).mappings().all())
        svc_rows = {r.host: r for r in conn.execute(
            select(services).where(live(services, cloud), services.c.binary == "nova-compute")).all()}
        zone_rows = conn.execute(select(zones).where(live(zones, cloud))).all()
        rp_ids = [r["resource_provider_id"] for r in rows if r["resource_provider_id"]]
        inv: dict[tuple[str, str], Any] = {}
        used: dict[tuple[str, str], int] = {}
        tree: dict[str, list[str]] = {}
        if rp_ids:
            members = conn.execute(select(providers.c.id, providers.c.root_provider_id).where(
                live(providers, cloud), or_(providers.c.id.in_(rp_ids), providers.c.root_provider_id.in_(rp_ids)))).all()
            for pid, root in members:
                tree.setdefault(root or pid, []).append(pid)
            for rp in rp_ids:
                tree.setdefault(rp, [])
                if rp not in tree[rp]:
                    tree[rp].insert(0, rp)
            all_ids = sorted({p for ps in tree.values() for p in ps})
            for i in conn.execute(select(inventories).where(
                    inventories.c.cloud == cloud, inventories.c.resource_provider_id.in_(all_ids),
                    inventories.c.resource_class.in_(list(req.request)))).all():
                inv[(i.resource_provider_id, i.resource_class)] = i
            for u in conn.execute(select(usages).where(
                    usages.c.cloud == cloud, usages.c.resource_provider_id.in_(all_ids),
                    usages.c.resource_class.in_(list(req.request)))).all():
                used[(u.resource_provider_id, u.resource_class)] = int(u.used or 0)
        return snapshot, frow, req, rows, svc_rows, zone_rows, inv, used, tree

    snapshot, frow, req, rows, svc_rows, zone_rows, inv, used, tree = await app.read(KINDS, read)

    zone_of_host: dict[str, str] = {}
    for z in zone_rows:
        for h in (raw_of(z).get("hosts") or {}) if isinstance(raw_of(z).get("hosts"), dict) else {}:
            zone_of_host.setdefault(str(h), z.name or z.id)
    for h, s in svc_rows.items():
        if s.zone:
            zone_of_host[h] = s.zone
    if az is not None:
        known_zones = sorted({z for z in zone_of_host.values() if z != "internal"} | {z.name or z.id for z in zone_rows
                                                                                       if (z.name or z.id) != "internal"})
        if az not in known_zones:
            raise NotFound(f"No availability zone {clip(az)} in the snapshot (known: {', '.join(known_zones) or 'none'}); "
                           "get_availability_zones lists them.", close_matches(az, known_zones))
    if wanted_hosts:
        names = {n for r in rows for n in (r["host"], r["hypervisor_hostname"]) if n}
        missing = [h for h in wanted_hosts if h not in names]
        if missing:
            raise NotFound(f"No hypervisor host {clip(missing[0])} in the snapshot; hosts= takes exact host or "
                           "hypervisor names (get_hypervisor_list).", close_matches(missing[0], sorted(names)))
        rows = [r for r in rows if r["host"] in wanted_hosts or r["hypervisor_hostname"] in wanted_hosts]

    eligible: list[HostFit] = []
    excluded: list[ExcludedHost] = []
    for r in sorted(rows, key=lambda r: (r["hypervisor_hostname"] or "", r["hypervisor_id"])):
        zone = zone_of_host.get(r["host"] or "") or zone_of_host.get(r["hypervisor_hostname"] or "")
        reason = _exclusion(r, svc_rows.get(r["host"]))
        if reason is None and az is not None and zone != az:
            reason = f"in zone {zone}, not {az}" if zone else \
                "zone unknown (its nova-compute service is not in the snapshot)"
        if reason is not None:
            excluded.append(ExcludedHost(host=r["host"], hypervisor_hostname=r["hypervisor_hostname"],
                                         availability_zone=zone, reason=reason))
            continue
        n, limited, fits, note = host_fit(r, req.request, inv, used, tree)
        eligible.append(HostFit(host=r["host"], hypervisor_hostname=r["hypervisor_hostname"], availability_zone=zone,
                                capacity_source=r["capacity_source"], fits=n, limited_by=limited, resources=fits,
                                note=note))

    known = [h for h in eligible if h.fits is not None]
    fits_total = sum(h.fits or 0 for h in known)
    unknown = len(eligible) - len(known)
    per_rc: dict[str, int] = {}
    for h in known:
        for f in h.resources:
            if f.fits is not None:
                per_rc[f.resource_class] = per_rc.get(f.resource_class, 0) + f.fits
    limited_by = min(per_rc, key=lambda k: per_rc[k]) if per_rc else None
    by_host: dict[str, int] = {}
    for h in known:
        if h.limited_by:
            key = h.limited_by.split(" ", 1)[0]
            by_host[key] = by_host.get(key, 0) + 1
    verdict = "yes" if fits_total >= count else ("unknown" if unknown else "no")
    eligible.sort(key=lambda h: (h.fits is None, -(h.fits or 0), h.hypervisor_hostname or ""))
    page = eligible[offset:offset + limit]
    verdict_ = assess(snapshot, what="capacity figures")
    plan = CapacityPlan(
        summary="", verdict=verdict, count=count, fits_total=fits_total, shortfall=max(0, count - fits_total),
        flavor=req, availability_zone=az, limited_by=limited_by, per_resource_fits=per_rc,
        limited_by_hosts=dict(sorted(by_host.items(), key=lambda kv: -kv[1])), eligible_hosts=len(eligible),
        hosts_unknown=unknown, page=PageInfo.of(len(eligible), len(page), offset, limit), hosts=page,
        excluded_total=len(excluded), excluded=excluded[:50],
        not_modelled=[*req.ignored_extra_specs, *NOT_MODELLED], complete=verdict_.complete,
        coverage=verdict_.summary, incomplete=verdict_.incomplete, snapshot=snapshot)
    plan.summary = _summary(plan)
    return plan


def _exclusion(row: Any, svc: Any) -> str | None:
    """Why a host takes no new instances (its nova-compute service), or None."""
    if svc is not None:
        if svc.status == "disabled":
            return "nova-compute disabled" + (f": {svc.disabled_reason}" if svc.disabled_reason else " (no reason given)")
        if svc.forced_down:
            return "nova-compute forced down by an operator"
        if svc.state == "down":
            beat = f"{svc.updated_at:%Y-%m-%d %H:%M:%S} UTC" if svc.updated_at else "never"
            return f"nova-compute down (last heartbeat {beat})"
        return None
    if row["status"] == "disabled":
        return "hypervisor disabled" + (f": {row['service_disabled_reason']}" if row["service_disabled_reason"] else "")
    if row["state"] == "down":
        return "hypervisor down"
    return None


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
