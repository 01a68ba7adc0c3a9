"""Capacity planning, per host: what one instance of a flavor asks Placement for
(:func:`flavor_request`) and how many more a host takes under Placement's rule or, without Placement,
against the hypervisor's physical totals (:func:`host_fit`). :mod:`app.services.planning` runs these
over the eligible hosts and writes the plan (the module doc there gives the rules)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from app.services.planning_read import Host, Slot

from app.services.inventory import raw_of
from app.services.models import clip

STANDARD = {"VCPU": "vcpus", "MEMORY_MB": "memory_mb", "DISK_GB": "disk_gb"}  # class -> capacity.RESOURCES key
# flavor extra specs whose effect is not modelled, by key prefix -> what it means
EXTRA_SPEC_EFFECTS = {
    "hw:cpu_policy": "dedicated CPUs request PCPU on clouds with cpu_dedicated_set; counted as VCPU here",
    "hw:numa": "NUMA topology (NUMATopologyFilter)",
    "hw:mem_page_size": "huge pages (NUMATopologyFilter)",
    "pci_passthrough:alias": "PCI devices (PciPassthroughFilter)",
    "trait:": "required or forbidden traits",
    "aggregate_instance_extra_specs:": "aggregate metadata (AggregateInstanceExtraSpecsFilter)",
    "capabilities:": "host capabilities (ComputeCapabilitiesFilter)",
    "accel:": "accelerators (Cyborg device profiles)",
}


class FlavorRequest(BaseModel):
    id: str
    name: str | None
    vcpus: int | None
    ram_mb: int | None
    disk_gb: int | None
    ephemeral_gb: int | None
    swap_mb: int | None
    is_disabled: bool | None
    request: dict[str, int] = Field(description="What Placement is asked for per instance, by resource class.")
    ignored_extra_specs: list[str] = Field(description="Extra specs whose scheduling effect is not modelled.")


class ResourceFit(BaseModel):
    resource_class: str
    requested: int = Field(description="Amount one instance asks for.")
    capacity: float | None = Field(description="(total - reserved) * allocation_ratio (hypervisor source: the physical total).")
    used: float | None
    free: float | None = Field(description="capacity - used.")
    allocation_ratio: float | None
    max_unit: int | None = Field(description="Largest single allocation Placement allows.")
    fits: int | None = Field(description="Instances this resource alone allows; null = unknown.")
    blocker: str | None = Field(description="Why this resource allows none or is unknown (max_unit, no inventory, ...).")



# ---------------------------------------------------------------------------------------------
# request


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def flavor_request(row: Any, boot_from_volume: bool) -> FlavorRequest:
    """Nova's Placement request for one instance of the flavor ``row`` (see the module doc)."""
    specs = raw_of(row).get("extra_specs")
    specs = specs if isinstance(specs, dict) else {}
    swap_gb = math.ceil((row.swap_mb or 0) / 1024)
    disk = (0 if boot_from_volume else (row.disk_gb or 0)) + (row.ephemeral_gb or 0) + swap_gb
    req: dict[str, int] = {"VCPU": row.vcpus or 0, "MEMORY_MB": row.ram_mb or 0, "DISK_GB": disk}
    ignored = []
    for key, value in sorted(specs.items()):
        if key.startswith("resources") and ":" in key:
            rc = key.split(":", 1)[1].strip().upper()
            amount = _int(value)
            if rc and amount is not None and amount >= 0:
                req[rc] = amount
                continue
        for prefix, effect in EXTRA_SPEC_EFFECTS.items():
            if key.startswith(prefix):
                ignored.append(f"{key}={clip(str(value), 40)}: {effect}")
                break
    return FlavorRequest(id=row.id, name=row.name, vcpus=row.vcpus, ram_mb=row.ram_mb, disk_gb=row.disk_gb,
                         ephemeral_gb=row.ephemeral_gb, swap_mb=row.swap_mb, is_disabled=row.is_disabled,
                         request={k: v for k, v in req.items() if v > 0}, ignored_extra_specs=ignored)


# ---------------------------------------------------------------------------------------------
# per host


def units_fit(amount: int, capacity: float | None, used: float | None, min_unit: int | None = None,
              max_unit: int | None = None, step_size: int | None = None) -> tuple[int | None, str | None]:
    """How many allocations of ``amount`` still fit (Placement's rule), and why none do if so."""
    if capacity is None:
        return None, "capacity unknown"
    if max_unit is not None and amount > max_unit:
        return 0, f"asks {amount}, more than max_unit {max_unit}"
    if min_unit is not None and amount < min_unit:
        return 0, f"asks {amount}, less than min_unit {min_unit}"
    if step_size and amount % step_size:
        return 0, f"asks {amount}, not a multiple of step_size {step_size}"
    free = capacity - (used or 0)
    n = max(0, math.floor(free / amount))
    while n > 0 and (used or 0) + n * amount > capacity:  # float edges
        n -= 1
    while (used or 0) + (n + 1) * amount <= capacity:
        n += 1
    return n, None if n else "full"


class Fit(NamedTuple):
    """One resource of one host's fit as the per-host loop computes it: plain values, no validation
    (a plan runs ~3 per host over every host of the fleet); :meth:`model` makes the answer's
    :class:`ResourceFit` (numbers rounded as shown) for the hosts of the page only."""

    resource_class: str
    requested: int
    capacity: float | None
    used: float | None
    free: float | None
    allocation_ratio: float | None = None
    max_unit: int | None = None
    fits: int | None = None
    blocker: str | None = None

    def model(self) -> ResourceFit:
        return ResourceFit(resource_class=self.resource_class, requested=self.requested, capacity=_num(self.capacity),
                           used=_num(self.used), free=_num(self.free), allocation_ratio=self.allocation_ratio,
                           max_unit=self.max_unit, fits=self.fits, blocker=self.blocker)


HYPERVISOR_NOTE = ("Hypervisor fields (no Placement data): RAM and disk against physical totals (a lower bound, "
                   "allocation ratios unknown); vCPUs not counted.")
UNKNOWN_NOTE = ("Capacity unknown: no Placement resource provider matches this hypervisor and the compute API (2.88+) "
                "reports no capacity fields.")


def _placement_fit(rp: str, rc: str, amount: int, slots: dict[tuple[str, str], Slot],
                   tree: dict[str, list[str]]) -> Fit:
    """Placement's rule over the host's provider (standard classes) or its provider tree (others)."""
    if rc in STANDARD:
        slot = slots.get((rp, rc))
        found = [] if slot is None else [slot]
    else:
        found = [s for p in tree.get(rp, [rp]) if (s := slots.get((p, rc))) is not None]
    if not found:
        blocker = (f"no {rc} inventory on the provider (disk may come from a sharing provider, not modelled)"
                   if rc == "DISK_GB" else f"no {rc} inventory on this host")
        return Fit(rc, amount, None, None, None, fits=None if rc == "DISK_GB" else 0, blocker=blocker)
    n_total: int | None = 0
    cap_total, used_total, why = 0.0, 0.0, None
    for s in found:
        n, why_p = units_fit(amount, s.capacity, s.used, min_unit=s.min_unit, max_unit=s.max_unit,
                             step_size=s.step_size)
        if n is None:
            n_total, why = None, why_p
            break
        n_total += n  # type: ignore[operator]
        cap_total += s.capacity or 0
        used_total += s.used
        why = why or why_p
    return Fit(rc, amount, cap_total, used_total, cap_total - used_total, found[0].allocation_ratio, found[0].max_unit,
               n_total, why if not n_total else None)


def _hypervisor_fit(host: Host, rc: str, amount: int) -> Fit:
    """RAM and disk against the hypervisor's physical totals; vCPUs and other classes not counted."""
    key = STANDARD.get(rc)
    if key is None or key == "vcpus":
        return Fit(rc, amount, None, None, None, blocker="not counted: allocation ratio unknown without Placement"
                   if key else f"no {rc} data without Placement")
    cap, u = getattr(host, f"{key}_capacity"), getattr(host, f"{key}_used")
    cap = None if cap is None else float(cap)
    n, why = units_fit(amount, cap, None if u is None else float(u))
    return Fit(rc, amount, cap, u, None if cap is None else cap - float(u or 0), fits=n, blocker=why if not n else None)


def host_fit(host: Host, request: dict[str, int], slots: dict[tuple[str, str], Slot],
             tree: dict[str, list[str]]) -> tuple[int | None, str | None, list[Fit], str | None]:
    """How many instances asking ``request`` ``host`` still takes, the first resource to run out
    (with its blocker when none fit), the per-resource fits and a note. ``slots`` are keyed by
    (provider, class); ``tree`` maps a provider to its tree's members."""
    source = host.capacity_source
    if source == "placement":
        rp = host.resource_provider_id
        fits = [_placement_fit(rp, rc, amount, slots, tree) for rc, amount in request.items()]  # type: ignore[arg-type]
        note = None
    elif source == "hypervisor":
        fits = [_hypervisor_fit(host, rc, amount) for rc, amount in request.items()]
        note = HYPERVISOR_NOTE if any(rc in ("MEMORY_MB", "DISK_GB") for rc in request) else None
    else:
        return None, None, [Fit(rc, amount, None, None, None, blocker="capacity unknown")
                            for rc, amount in request.items()], UNKNOWN_NOTE
    for f in fits:  # a known blocker settles it, whatever else is unknown
        if f.fits == 0:
            return 0, f"{f.resource_class} ({f.blocker})", fits, note
    unknown = [f for f in fits if f.fits is None and not (source == "hypervisor" and f.resource_class == "VCPU")]
    if unknown:
        return None, None, fits, (note + " " if note else "") + "; ".join(
            f"{f.resource_class}: {f.blocker}" for f in unknown)
    best = None
    for f in fits:
        if f.fits is not None and (best is None or f.fits < best.fits):
            best = f
    if best is None:
        return None, None, fits, note
    return best.fits, best.resource_class, fits, note


def fit_numbers(host: Host, request: dict[str, int], slots: dict[tuple[str, str], Slot],
                tree: dict[str, list[str]]) -> tuple[int | None, str | None, tuple[int | None, ...]]:
    """What a plan sums over every host: :func:`host_fit`'s fit, the class that limits it (without
    the blocker) and each class's fit in request order, without the per-resource detail (built for the
    page's hosts only). The common case (a Placement host, VCPU/MEMORY_MB/DISK_GB) takes Placement's
    rule straight from the slots; any other goes through :func:`host_fit`."""
    rp = host.resource_provider_id
    if host.capacity_source != "placement" or rp is None or not request.keys() <= STANDARD.keys():
        n, limited, fits, _note = host_fit(host, request, slots, tree)
        return n, limited.split(" ", 1)[0] if limited else None, tuple(f.fits for f in fits)
    per: list[int | None] = []
    for rc, amount in request.items():
        s = slots.get((rp, rc))
        if s is None:
            per.append(None if rc == "DISK_GB" else 0)
        else:
            per.append(units_fit(amount, s.capacity, s.used, s.min_unit, s.max_unit, s.step_size)[0])
    if 0 in per:
        return 0, list(request)[per.index(0)], tuple(per)
    if None in per or not per:
        return None, None, tuple(per)
    n = min(per)  # type: ignore[type-var]
    return n, list(request)[per.index(n)], tuple(per)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 2)
