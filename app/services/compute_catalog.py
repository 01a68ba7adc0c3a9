"""Hypervisor and flavor listings (get_hypervisor_list, get_flavor_list): capacity as the
``v_hypervisor_capacity`` view defines it (:func:`app.services.capacity.capacity_query`, for the page's
hypervisors only: Placement, or the hypervisor's own fields before compute 2.88; NULL when neither
source has it, never invented), instance counts from one grouped query per page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Select, func, select

from app.errors import InvalidArgument
from app.resources.flavors import table as flavors
from app.resources.hypervisors import table as hypervisors
from app.resources.servers import table as servers
from app.services.capacity import capacity_query
from app.services.kept import kept
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import check_window, fetch_page, live, ordered
from app.services.scope import restrict, visible

if TYPE_CHECKING:
    from app.context import AppContext
    from app.db.engine import Database

# HypervisorOut field -> column of app.services.capacity.capacity_query
_CAP_FIELDS = {
    "hypervisor_hostname": "hypervisor_hostname", "host": "host", "state": "state", "status": "status",
    "hypervisor_type": "hypervisor_type", "capacity_source": "capacity_source",
    "vcpus_total": "vcpus_capacity", "vcpus_used": "vcpus_used", "memory_mb_total": "memory_mb_capacity",
    "memory_mb_used": "memory_mb_used", "disk_gb_total": "disk_gb_capacity", "disk_gb_used": "disk_gb_used",
    "vcpus_used_pct": "vcpus_pct", "memory_used_pct": "memory_mb_pct", "disk_used_pct": "disk_gb_pct",
}


class HypervisorOut(BaseModel):
    id: str = Field(description="Hypervisor id.")
    hypervisor_hostname: str | None = Field(description="Hypervisor host name.")
    host: str | None = Field(description="nova-compute service host.")
    state: str | None = Field(description="up or down.")
    status: str | None = Field(description="enabled or disabled.")
    hypervisor_type: str | None = Field(description="QEMU, ironic, ...")
    capacity_source: str | None = Field(description="placement or hypervisor; null when no capacity is known.")
    vcpus_total: float | None = Field(description="Schedulable vCPUs ((total - reserved) x allocation ratio).")
    vcpus_used: float | None = Field(description="vCPUs allocated.")
    memory_mb_total: float | None = Field(description="Schedulable RAM MiB.")
    memory_mb_used: float | None = Field(description="RAM MiB allocated.")
    disk_gb_total: float | None = Field(description="Schedulable disk GiB.")
    disk_gb_used: float | None = Field(description="Disk GiB allocated.")
    vcpus_used_pct: float | None = Field(description="vCPU use in percent.")
    memory_used_pct: float | None = Field(description="RAM use in percent.")
    disk_used_pct: float | None = Field(description="Disk use in percent.")
    instances: int = Field(description="Live instances in the snapshot on this hypervisor.")


class HypervisorList(PageInfo):
    hypervisors: list[HypervisorOut] = Field(description="This window, ordered by hypervisor_hostname.")
    snapshot: SnapshotInfo


class FlavorOut(BaseModel):
    id: str = Field(description="Flavor id.")
    name: str | None = Field(description="Flavor name.")
    vcpus: int | None = Field(description="vCPUs.")
    ram_mb: int | None = Field(description="RAM MiB.")
    disk_gb: int | None = Field(description="Root disk GiB.")
    ephemeral_gb: int | None = Field(description="Ephemeral disk GiB.")
    swap_mb: int | None = Field(description="Swap MiB.")
    is_public: bool | None = Field(description="Visible to every project.")
    is_disabled: bool | None = Field(description="Disabled for new servers.")
    instances: int = Field(description="Live instances using this flavor (by id, or by name on compute 2.47+).")


class FlavorList(PageInfo):
    flavors: list[FlavorOut] = Field(description="This window, ordered by vCPUs, RAM, then name.")
    snapshot: SnapshotInfo


HYPERVISOR_STATUSES = ("enabled", "disabled", "up", "down")


async def hypervisor_list(app: AppContext, limit: int, offset: int, status: str | None) -> HypervisorList:
    check_window(limit, offset)
    h = hypervisors
    conds = [live(h, app.cloud_name)]
    if status is not None and status.strip():
        st = status.strip().lower()
        if st not in HYPERVISOR_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(HYPERVISOR_STATUSES)} "
                                  "(enabled/disabled: the compute service; up/down: its state).")
        conds.append((h.c.status == st) if st in ("enabled", "disabled") else (h.c.state == st))
    return await app.read(("hypervisors", "resource_providers", "servers"), _read_hypervisors, app.cloud_name, conds,
                          limit, offset)


def _read_hypervisors(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[Any], limit: int,
                      offset: int) -> HypervisorList:
    """Count and window the live hypervisors on their (cloud, hostname, id) index, then capacity and
    instance counts for the window's hypervisors only (never the whole fleet)."""
    h = hypervisors
    total = conn.execute(select(func.count()).select_from(h).where(*conds)).scalar_one()
    ids = [i for (i,) in conn.execute(select(h.c.id).where(*conds).order_by(
        *ordered(h.c.hypervisor_hostname, h.c.id)).limit(limit).offset(offset))] if offset < total else []
    caps = {r["hypervisor_id"]: r for r in conn.execute(capacity_query(cloud, ids)).mappings()} if ids else {}
    rows = [caps[i] for i in ids if i in caps]
    names = [r["hypervisor_hostname"] for r in rows if r["hypervisor_hostname"]]
    counts = dict(conn.execute(
        select(servers.c.hypervisor_hostname, func.count())
        .where(live(servers, cloud), servers.c.hypervisor_hostname.in_(names))
        .group_by(servers.c.hypervisor_hostname)).all()) if names else {}
    items = [HypervisorOut(id=r["hypervisor_id"], instances=counts.get(r["hypervisor_hostname"], 0),
                           **{out: r[col] for out, col in _CAP_FIELDS.items()}) for r in rows]
    return HypervisorList(**PageInfo.of(int(total), len(items), offset, limit).model_dump(), hypervisors=items,
                          snapshot=snap)


async def flavor_list(app: AppContext, limit: int, offset: int) -> FlavorList:
    check_window(limit, offset)
    f = flavors
    stmt = select(f).where(visible(app, f)).order_by(*ordered(f.c.vcpus, f.c.ram_mb, f.c.name, f.c.id))
    return await app.read(("flavors", "servers"), _read_flavors, app.cloud_name, stmt, limit, offset,
                          restrict(app, servers), None if app.scope.restricted else app.db)


def _read_flavors(conn: Connection, snap: SnapshotInfo, cloud: str, stmt: Select[Any], limit: int,
                  offset: int, mine: ColumnElement[bool], whole: Database | None) -> FlavorList:
    """One page of flavors, each with the count of the caller's instances (``mine``) of it. ``whole``
    (an unrestricted caller): the counts over every server are kept per the servers' data version
    (:mod:`app.services.kept`): counting them walks the whole fleet."""
    total, rows = fetch_page(conn, stmt, limit=limit, offset=offset)
    ids, names = tuple(r.id for r in rows), tuple(r.name for r in rows)

    def count() -> tuple[dict[str, int], dict[str, int]]:
        s = servers
        by_id = dict(conn.execute(
            select(s.c.flavor_id, func.count()).where(live(s, cloud), mine, s.c.flavor_id.in_(ids))
            .group_by(s.c.flavor_id)).all())
        by_name = dict(conn.execute(
            select(s.c.flavor_name, func.count())
            .where(live(s, cloud), mine, s.c.flavor_id.is_(None), s.c.flavor_name.in_(names))
            .group_by(s.c.flavor_name)).all())
        return by_id, by_name

    by_id, by_name = count() if whole is None else kept(conn, whole, cloud, ["servers"],
                                                        ("servers", "per flavor", ids, names), count)
    items = [FlavorOut(id=r.id, name=r.name, vcpus=r.vcpus, ram_mb=r.ram_mb, disk_gb=r.disk_gb,
                       ephemeral_gb=r.ephemeral_gb, swap_mb=r.swap_mb, is_public=r.is_public,
                       is_disabled=r.is_disabled, instances=by_id.get(r.id, 0) + by_name.get(r.name, 0))
             for r in rows]
    return FlavorList(**PageInfo.of(total, len(items), offset, limit).model_dump(), flavors=items, snapshot=snap)
