"""Hypervisor capacity and usage, computed in SQL (the monitor_resources tool and the capacity part of
get_cluster_status).

Per live hypervisor and per resource (vCPU, RAM MiB, disk GiB):

* **placement** source (a resource provider with the hypervisor's uuid, else its name):
  ``capacity = (total - reserved) * allocation_ratio`` from the inventory, ``used`` from the provider's
  usages, ``physical = total - reserved``.
* **hypervisor** source (no provider, e.g. Placement not synced, and the cloud predates compute 2.88 so
  the hypervisor still reports ``vcpus``/``memory_mb``/``local_gb``): ``capacity = physical`` = those
  fields, ``used`` = their ``*_used`` fields, allocation ratio unknown (null).
* neither: every number is null and ``capacity_source`` is null (capacity unknown, never invented).

``pressure_pct`` is the highest of the percentages that mean "this host is filling up": vCPU, RAM and
disk against capacity. RAM against physical RAM (``memory_physical_pct``) is reported but is not
pressure: committing more than physical RAM is what a RAM allocation ratio above 1 is for, and the
operator chose it. vCPU is left out for the hypervisor source, whose allocation ratio
is unknown (vCPUs above the physical core count are normal there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Numeric, Select, and_, case, cast, func, literal, null, or_, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from app.resources.hypervisors import table as hypervisors
from app.resources.resource_providers import inventories, usages
from app.resources.resource_providers import table as providers
from app.services.query import ordered

# resource key -> (Placement resource class, hypervisor total column, hypervisor used column)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "vcpus": ("VCPU", "vcpus", "vcpus_used"),
    "memory_mb": ("MEMORY_MB", "memory_mb", "memory_mb_used"),
    "disk_gb": ("DISK_GB", "local_gb", "local_gb_used"),
}


class greatest(FunctionElement[Any]):  # noqa: N801 - SQL function name
    """``GREATEST`` on PostgreSQL, multi-argument ``MAX`` on SQLite (callers coalesce NULLs away)."""

    type = Float()
    inherit_cache = True


@compiles(greatest)
def _greatest_default(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"MAX({compiler.process(element.clauses, **kw)})"


def _pct(used: ColumnElement[Any], total: ColumnElement[Any]) -> ColumnElement[Any]:
    """``used`` as a percentage of ``total``, one decimal. Rounded as NUMERIC (PostgreSQL has no
    ``round(double precision, integer)``; the views do the same), read back as a float."""
    return type_coerce(func.round(cast(100.0 * used / func.nullif(total, 0), Numeric), 1), Float)


def matched_provider() -> ColumnElement[Any]:
    """A hypervisor row's Placement resource provider: the live one with the hypervisor's uuid, else
    the first live one with its name (a correlated scalar subquery on ``hypervisors``)."""
    h = hypervisors
    by_uuid = select(providers.c.id).where(
        providers.c.cloud == h.c.cloud, providers.c.id == h.c.id, providers.c.deleted_at.is_(None)
    ).scalar_subquery()
    by_name = select(func.min(providers.c.id)).where(
        providers.c.cloud == h.c.cloud, providers.c.name == h.c.hypervisor_hostname, providers.c.deleted_at.is_(None)
    ).scalar_subquery()
    return func.coalesce(by_uuid, by_name)


def capacity_query(cloud: str, hypervisor_ids: Sequence[str] | None = None) -> Select[Any]:
    """One row per live hypervisor with capacity, use, ratios and percentages (see module doc).
    ``hypervisor_ids``: only these (a page): the Placement sums are then taken over their providers
    only, so the cost is the page's, not the fleet's."""
    h = hypervisors
    matched_q = select(h, matched_provider().label("rp_id")).where(h.c.cloud == cloud, h.c.deleted_at.is_(None))
    if hypervisor_ids is not None:
        # The LIMIT keeps SQLite from flattening the subquery: the provider match is then computed once
        # per hypervisor, not again for each of the ~30 output columns that test it.
        matched_q = matched_q.where(h.c.id.in_(list(hypervisor_ids))).limit(len(hypervisor_ids))
    matched = matched_q.subquery("hm")
    of_page: list[Any] = [] if hypervisor_ids is None else [select(matched.c.rp_id)]

    i = inventories
    inv_cols = []
    for key, (rc, _t, _u) in RESOURCES.items():
        is_rc = i.c.resource_class == rc
        inv_cols += [
            func.sum(case((is_rc, (i.c.total - i.c.reserved) * i.c.allocation_ratio))).label(f"{key}_cap"),
            func.sum(case((is_rc, i.c.total - i.c.reserved))).label(f"{key}_phys"),
            func.max(case((is_rc, i.c.allocation_ratio))).label(f"{key}_ratio"),
        ]
    inv = select(i.c.resource_provider_id, *inv_cols).where(
        i.c.cloud == cloud, *(i.c.resource_provider_id.in_(q) for q in of_page)).group_by(
        i.c.resource_provider_id).subquery("inv")
    u = usages
    us = select(u.c.resource_provider_id, *[
        func.sum(case((u.c.resource_class == rc, u.c.used))).label(f"{key}_used")
        for key, (rc, _t, _u) in RESOURCES.items()
    ]).where(u.c.cloud == cloud, *(u.c.resource_provider_id.in_(q) for q in of_page)).group_by(
        u.c.resource_provider_id).subquery("us")

    m = matched.c
    placement = m.rp_id.is_not(None)
    cols: list[Any] = [
        m.id.label("hypervisor_id"), m.hypervisor_hostname, m.host, m.state, m.status, m.hypervisor_type,
        m.service_disabled_reason, m.running_vms, m.rp_id.label("resource_provider_id"),
        case((placement, literal("placement")),
             (or_(m.vcpus.is_not(None), m.memory_mb.is_not(None), m.local_gb.is_not(None)), literal("hypervisor")),
             else_=null()).label("capacity_source"),
    ]
    pressure_parts = []
    for key, (_rc, total_col, used_col) in RESOURCES.items():
        cap_ = case((placement, inv.c[f"{key}_cap"]), else_=m[total_col])
        phys = case((placement, inv.c[f"{key}_phys"]), else_=m[total_col])
        used = case((placement, case((inv.c[f"{key}_cap"].is_not(None), func.coalesce(us.c[f"{key}_used"], 0)))),
                    else_=m[used_col])
        ratio = case((placement, inv.c[f"{key}_ratio"]), else_=null())
        pct = _pct(used, cap_)
        cols += [cap_.label(f"{key}_capacity"), used.label(f"{key}_used"), phys.label(f"{key}_physical"),
                 ratio.label(f"{key}_ratio"), pct.label(f"{key}_pct")]
        if key == "memory_mb":
            phys_pct = _pct(used, phys)
            cols.append(phys_pct.label("memory_physical_pct"))
            pressure_parts.append(func.coalesce(pct, -1.0))
        elif key == "vcpus":
            pressure_parts.append(case((placement, func.coalesce(pct, -1.0)), else_=-1.0))
        else:
            pressure_parts.append(func.coalesce(pct, -1.0))
    pressure = greatest(*pressure_parts)
    cols.append(case((pressure >= 0, pressure), else_=null()).label("pressure_pct"))
    return (
        select(*cols)
        .select_from(matched.outerjoin(inv, inv.c.resource_provider_id == m.rp_id)
                     .outerjoin(us, us.c.resource_provider_id == m.rp_id))
    )


def totals_query(cap: Any) -> Select[Any]:
    """Sums over a :func:`capacity_query` subquery: capacity and use only over hypervisors whose capacity
    is known (``known``), with how many are unknown."""
    cols: list[Any] = [
        func.count().label("hypervisors"),
        func.sum(case((cap.c.capacity_source.is_(None), 1), else_=0)).label("unknown"),
        func.sum(case((cap.c.capacity_source == "placement", 1), else_=0)).label("from_placement"),
        func.sum(case((cap.c.capacity_source == "hypervisor", 1), else_=0)).label("from_hypervisor"),
    ]
    for key in RESOURCES:
        known = cap.c[f"{key}_capacity"].is_not(None)
        cols += [
            func.sum(cap.c[f"{key}_capacity"]).label(f"{key}_capacity"),
            func.sum(case((known, cap.c[f"{key}_used"]))).label(f"{key}_used"),
            func.sum(case((known, cap.c[f"{key}_physical"]))).label(f"{key}_physical"),
            func.count(cap.c[f"{key}_capacity"]).label(f"{key}_known"),
        ]
    return select(*cols)


def over_threshold(cap: Any, threshold: float) -> ColumnElement[bool]:
    return and_(cap.c.pressure_pct.is_not(None), cap.c.pressure_pct >= threshold)


def ratios_query(cloud: str) -> Select[Any]:
    """Distinct allocation ratios per resource class over live providers, with how many use each."""
    i = inventories
    rcs = [rc for rc, _t, _u in RESOURCES.values()]
    live_rp = select(providers.c.id).where(providers.c.cloud == cloud, providers.c.deleted_at.is_(None))
    return (
        select(i.c.resource_class, i.c.allocation_ratio, func.count().label("providers"))
        .where(i.c.cloud == cloud, i.c.resource_class.in_(rcs), i.c.resource_provider_id.in_(live_rp))
        .group_by(i.c.resource_class, i.c.allocation_ratio)
        .order_by(*ordered(i.c.resource_class, i.c.allocation_ratio))
    )


def resource_detail(row: Any, key: str) -> dict[str, Any]:
    """The per-resource fields of a capacity row as a dict for the result models."""
    out = {
        "capacity": _num(row[f"{key}_capacity"]),
        "used": _num(row[f"{key}_used"]),
        "physical": _num(row[f"{key}_physical"]),
        "allocation_ratio": row[f"{key}_ratio"],
        "used_pct": row[f"{key}_pct"],
    }
    if key == "memory_mb":
        out["physical_used_pct"] = row["memory_physical_pct"]
    return out


def hot_resources(row: Any, threshold: float) -> list[str]:
    """Which resources of a capacity row are at or above ``threshold`` (same rule as pressure_pct)."""
    hot = []
    if row["capacity_source"] == "placement" and (row["vcpus_pct"] or -1) >= threshold:
        hot.append(f"vCPU {row['vcpus_pct']}% of capacity")
    if (row["memory_mb_pct"] or -1) >= threshold:
        hot.append(f"RAM {row['memory_mb_pct']}% of capacity")
    if (row["disk_gb_pct"] or -1) >= threshold:
        hot.append(f"disk {row['disk_gb_pct']}% of capacity")
    return hot


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 1)
