"""What a capacity plan reads (:mod:`app.services.planning`), once per data version: the *host base*.

Everything a plan needs that does not depend on the flavor or the arguments is read and prepared
together and kept (:mod:`app.services.kept`) while the data versions of the kinds it comes from hold
(:func:`host_base`): one entry per live hypervisor, in name order, with its zone, why it is
excluded (its nova-compute service disabled, forced down or down, else the hypervisor's own state),
where its capacity comes from and its hypervisor fields; and per (provider, resource class) the
Placement *slot*: ``(total - reserved) * allocation_ratio``, usage and the allocation rules. A plan
then only checks the flavor's request against those (:func:`app.services.planning_fit.host_fit`).

The reads themselves take only what a plan uses: not the fill levels and percentages of
:func:`app.services.capacity.capacity_query` (~0.5 s at 2,500 hosts), inventories and usages by
class ranges instead of a list of every provider ID, no raw JSON but the zones' host lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from app.resources.availability_zones import table as zones
from app.resources.compute_services import table as services
from app.resources.hypervisors import table as hypervisors
from app.resources.resource_providers import inventories, usages
from app.resources.resource_providers import table as providers
from app.services.capacity import RESOURCES, matched_provider
from app.services.inventory import raw_of
from app.services.kept import kept

if TYPE_CHECKING:
    from app.db.engine import Database

# the kinds a host base is built from (inventories and usages are part of resource_providers)
BASE_KINDS = ("hypervisors", "resource_providers", "compute_services", "availability_zones")


class Host(NamedTuple):
    """One live hypervisor as a plan sees it."""

    hypervisor_id: str
    host: str | None
    hypervisor_hostname: str | None
    availability_zone: str | None
    excluded: str | None  # why it takes no new instances whatever the flavor (see _exclusion), else None
    capacity_source: str | None  # placement, hypervisor or None (unknown)
    resource_provider_id: str | None
    memory_mb_capacity: int | None  # the hypervisor's own fields (the source below compute 2.88)
    memory_mb_used: int | None
    disk_gb_capacity: int | None
    disk_gb_used: int | None


class Slot(NamedTuple):
    """One resource class of one Placement provider."""

    capacity: float | None  # (total - reserved) * allocation_ratio; None when total is unknown
    used: int
    allocation_ratio: float | None
    min_unit: int | None
    max_unit: int | None
    step_size: int | None


@dataclass(frozen=True)
class HostBase:
    hosts: list[Host]  # by hypervisor name, then ID
    zones: list[str]  # zone names (service zones and listed zones), sorted, without 'internal'
    slots: dict[tuple[str, str], Slot]  # (provider, resource class) -> slot
    tree: dict[str, list[str]]  # matched provider -> its tree's live members, itself first
    # what app.services.planning derives per flavor request from this base (kept with it, gone with it)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)


def host_base(conn: Connection, db: Database, cloud: str) -> HostBase:
    """The host base of ``cloud`` at the data versions ``conn``'s transaction sees: the kept one while
    they hold (:func:`app.services.kept.kept`), else read now."""
    return kept(conn, db, cloud, BASE_KINDS, "planning.host_base", lambda: _read_base(conn, cloud))


# ---------------------------------------------------------------------------------------------
# the reads


def _live(table: Any) -> Any:
    return (table.c.cloud == bindparam("cloud")) & table.c.deleted_at.is_(None)


def _hosts_query() -> Any:
    """Live hypervisors with their Placement provider (:func:`app.services.capacity.matched_provider`,
    the match ``capacity_query`` makes) and their own capacity fields as ``<key>_capacity``/``<key>_used``."""
    h = hypervisors
    fields = [c for key, (_rc, total, used) in RESOURCES.items()
              for c in (h.c[total].label(f"{key}_capacity"), h.c[used].label(f"{key}_used"))]
    return select(h.c.id.label("hypervisor_id"), h.c.hypervisor_hostname, h.c.host, h.c.state, h.c.status,
                  h.c.service_disabled_reason, matched_provider().label("resource_provider_id"),
                  *fields).where(_live(h))


# Built once (compiled once), the cloud bound at execution: a base is read after every change of its kinds.
_HOSTS = _hosts_query()
_SERVICES = select(*[services.c[n] for n in ("host", "zone", "status", "state", "disabled_reason", "forced_down",
                                             "updated_at")]).where(_live(services), services.c.binary == "nova-compute")
_ZONES = select(zones.c.id, zones.c.name, zones.c.raw).where(_live(zones))
_PROVIDERS = select(providers.c.id, providers.c.root_provider_id).where(_live(providers))
_INVENTORIES = select(*[inventories.c[n] for n in ("resource_provider_id", "resource_class", "total", "reserved",
                                                   "min_unit", "max_unit", "step_size", "allocation_ratio")]).where(
    inventories.c.cloud == bindparam("cloud"))
_USAGES = select(usages.c.resource_provider_id, usages.c.resource_class, usages.c.used).where(
    usages.c.cloud == bindparam("cloud"))


def _read_base(conn: Connection, cloud: str) -> HostBase:
    at = {"cloud": cloud}
    rows = conn.execute(_HOSTS, at).all()
    svc = {r.host: r for r in conn.execute(_SERVICES, at).all()}
    zone_of_host: dict[str, str] = {}
    listed_zones = set()
    for z in conn.execute(_ZONES, at).all():
        listed_zones.add(z.name or z.id)
        listed = raw_of(z).get("hosts")
        for h in listed if isinstance(listed, dict) else {}:
            zone_of_host.setdefault(str(h), z.name or z.id)
    for h, s in svc.items():
        if s.zone:
            zone_of_host[h] = s.zone
    hosts = []
    for r in sorted(rows, key=lambda r: (r.hypervisor_hostname or "", r.hypervisor_id)):
        zone = zone_of_host.get(r.host or "") or zone_of_host.get(r.hypervisor_hostname or "")
        hosts.append(Host(r.hypervisor_id, r.host, r.hypervisor_hostname, zone, _exclusion(r, svc.get(r.host)),
                          _capacity_source(r), r.resource_provider_id, r.memory_mb_capacity, r.memory_mb_used,
                          r.disk_gb_capacity, r.disk_gb_used))
    rp_ids = {h.resource_provider_id for h in hosts if h.resource_provider_id}
    tree = _trees(conn, at, rp_ids) if rp_ids else {}
    return HostBase(hosts, sorted((set(zone_of_host.values()) | listed_zones) - {"internal"}),
                    _slots(conn, at, {p for ps in tree.values() for p in ps}), tree)


def _capacity_source(row: Any) -> str | None:
    """placement (a provider matched), hypervisor (it reports its own capacity fields) or None
    (unknown): the rule of ``capacity_query``'s ``capacity_source``."""
    if row.resource_provider_id is not None:
        return "placement"
    if any(getattr(row, f"{key}_capacity") is not None for key in RESOURCES):
        return "hypervisor"
    return None


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
    if row.status == "disabled":
        return "hypervisor disabled" + (f": {row.service_disabled_reason}" if row.service_disabled_reason else "")
    if row.state == "down":
        return "hypervisor down"
    return None


def _trees(conn: Connection, at: dict[str, str], rp_ids: set[str]) -> dict[str, list[str]]:
    """Each matched provider's tree: the live providers rooted at it, itself first, then by ID."""
    tree: dict[str, list[str]] = {}
    for pid, root in conn.execute(_PROVIDERS, at).all():
        if pid in rp_ids or root in rp_ids:
            tree.setdefault(root or pid, []).append(pid)
    for rp in rp_ids:
        tree[rp] = [rp, *sorted(p for p in tree.get(rp, ()) if p != rp)]
    return tree


def _slots(conn: Connection, at: dict[str, str], wanted: set[str]) -> dict[tuple[str, str], Slot]:
    """Inventory and usage per (provider, class) of the ``wanted`` providers (every class: the
    flavor's request is checked later)."""
    if not wanted:
        return {}
    used: dict[tuple[str, str], int] = {}
    for pid, rc, n in conn.execute(_USAGES, at).all():
        if pid in wanted:
            used[(pid, rc)] = int(n or 0)
    slots = {}
    for pid, rc, total, reserved, min_unit, max_unit, step, ratio in conn.execute(_INVENTORIES, at).all():
        if pid in wanted:
            cap = None if total is None else (total - (reserved or 0)) * (ratio or 1.0)
            slots[(pid, rc)] = Slot(cap, used.get((pid, rc), 0), ratio, min_unit, max_unit, step)
    return slots
