"""Capacity planning, per host: what one instance of a flavor asks Placement for
(:func:`flavor_request`) and how many more a host takes under Placement's rule or, without Placement,
against the hypervisor's physical totals (:func:`host_fit`). :mod:`app.services.planning` runs these
over the eligible hosts and writes the plan (the module doc there gives the rules)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

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


def units_fit(amount: int, capacity: float | None, used: float | None, *, min_unit: int | None = None,
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


def host_fit(row: Any, request: dict[str, int], inv: dict[tuple[str, str], Any], used: dict[tuple[str, str], int],
              tree: dict[str, list[str]]) -> tuple[int | None, str | None, list[ResourceFit], str | None]:
    source = row["capacity_source"]
    rp = row["resource_provider_id"]
    fits: list[ResourceFit] = []
    note = None
    for rc, amount in request.items():
        if source == "placement":
            providers_with = [p for p in ([rp] if rc in STANDARD else tree.get(rp, [rp])) if (p, rc) in inv]
            if not providers_with:
                blocker = (f"no {rc} inventory on the provider (disk may come from a sharing provider, "
                           "not modelled)" if rc == "DISK_GB" else f"no {rc} inventory on this host")
                fits.append(ResourceFit(resource_class=rc, requested=amount, capacity=None, used=None, free=None,
                                        allocation_ratio=None, max_unit=None,
                                        fits=None if rc == "DISK_GB" else 0, blocker=blocker))
                continue
            n_total, cap_total, used_total, why = 0, 0.0, 0.0, None
            for p in providers_with:
                i = inv[(p, rc)]
                cap = None if i.total is None else (i.total - (i.reserved or 0)) * (i.allocation_ratio or 1.0)
                u = used.get((p, rc), 0)
                n, why_p = units_fit(amount, cap, u, min_unit=i.min_unit, max_unit=i.max_unit, step_size=i.step_size)
                if n is None:
                    n_total, why = None, why_p  # type: ignore[assignment]
                    break
                n_total += n
                cap_total += cap or 0
                used_total += u
                why = why or why_p
            first = inv[(providers_with[0], rc)]
            fits.append(ResourceFit(
                resource_class=rc, requested=amount, capacity=_num(cap_total), used=_num(used_total),
                free=_num(cap_total - used_total), allocation_ratio=first.allocation_ratio, max_unit=first.max_unit,
                fits=n_total, blocker=why if not n_total else None))
        elif source == "hypervisor":
            key = STANDARD.get(rc)
            if key is None or key == "vcpus":
                fits.append(ResourceFit(resource_class=rc, requested=amount, capacity=None, used=None, free=None,
                                        allocation_ratio=None, max_unit=None, fits=None,
                                        blocker="not counted: allocation ratio unknown without Placement"
                                        if key else f"no {rc} data without Placement"))
                continue
            cap, u = row[f"{key}_capacity"], row[f"{key}_used"]
            cap = None if cap is None else float(cap)
            n, why = units_fit(amount, cap, None if u is None else float(u))
            fits.append(ResourceFit(resource_class=rc, requested=amount, capacity=_num(cap), used=_num(u),
                                    free=None if cap is None else _num(cap - float(u or 0)), allocation_ratio=None,
                                    max_unit=None, fits=n, blocker=why if not n else None))
            note = ("Hypervisor fields (no Placement data): RAM and disk against physical totals (a lower bound, "
                    "allocation ratios unknown); vCPUs not counted.")
        else:
            fits.append(ResourceFit(resource_class=rc, requested=amount, capacity=None, used=None, free=None,
                                    allocation_ratio=None, max_unit=None, fits=None, blocker="capacity unknown"))
    if source is None:
        return None, None, fits, ("Capacity unknown: no Placement resource provider matches this hypervisor and "
                                  "the compute API (2.88+) reports no capacity fields.")
    counted = [f for f in fits if f.fits is not None]
    unknown = [f for f in fits if f.fits is None and not (source == "hypervisor" and f.resource_class == "VCPU")]
    zero = [f for f in counted if f.fits == 0]
    if zero:  # a known blocker settles it, whatever else is unknown
        first = zero[0]
        return 0, f"{first.resource_class} ({first.blocker})", fits, note
    if unknown:
        return None, None, fits, (note + " " if note else "") + "; ".join(
            f"{f.resource_class}: {f.blocker}" for f in unknown)
    if not counted:
        return None, None, fits, note
    best = min(counted, key=lambda f: f.fits)  # type: ignore[arg-type, return-value]
    return best.fits, best.resource_class, fits, note


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 2)
