"""Lean lists of availability zones (with their hosts and service problems) and Placement resource
providers (inventory and usage), in the shape of :mod:`app.services.inventory_more`: a ``summary``,
a page of lean items, paging fields and the ``snapshot`` freshness block; filtering, ordering and
paging in SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, select

from app.resources.availability_zones import table as zones
from app.resources.resource_providers import inventories, usages
from app.resources.resource_providers import table as providers
from app.services.inventory import raw_of
from app.services.inventory_more import list_page
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import check_window, contains, paging_summary

if TYPE_CHECKING:
    from app.context import AppContext


# ---------------------------------------------------------------------------------------------
# availability zones


class ZoneHost(BaseModel):
    host: str
    services: list[str] = Field(description="Nova services on the host in this zone.")
    problems: list[str] = Field(description="Services not active (disabled) or not available (down).")


class ZoneItem(BaseModel):
    name: str
    available: bool | None = Field(description="zoneState.available.")
    host_count: int | None = Field(description="Hosts in the zone (null if the API gave no host detail).")
    compute_hosts: int = Field(description="Hosts running nova-compute in the zone.")
    hosts_with_problems: int
    hosts: list[ZoneHost] = Field(description="Hosts with problems first, then by name (at most 50).")


class ZoneList(BaseModel):
    summary: str
    page: PageInfo
    zones: list[ZoneItem] = Field(description="Nova availability zones by name (internal = control services).")
    snapshot: SnapshotInfo


async def availability_zone_list(app: AppContext, *, limit: int, offset: int, name: str | None) -> ZoneList:
    conds = [contains(zones.c.name, name.strip(), False)] if name and name.strip() else []
    check_window(limit, offset)
    return await app.read(["availability_zones"], _read_zones, app.cloud_name, conds, limit, offset)


def _read_zones(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
                offset: int) -> ZoneList:
    total, rows, _ = list_page(conn, cloud, zones, conds, (zones.c.name, zones.c.id), limit, offset)
    items = []
    for r in rows:
        hosts_raw = raw_of(r).get("hosts")
        hosts: list[ZoneHost] = []
        for host, svcs in sorted((hosts_raw or {}).items()) if isinstance(hosts_raw, dict) else []:
            svcs = svcs if isinstance(svcs, dict) else {}
            problems = []
            for svc, st in sorted(svcs.items()):
                st = st if isinstance(st, dict) else {}
                if st.get("active") is False:
                    problems.append(f"{svc} disabled")
                if st.get("available") is False:
                    problems.append(f"{svc} down (last update {st.get('updated_at')})")
            hosts.append(ZoneHost(host=str(host), services=sorted(svcs), problems=problems))
        hosts.sort(key=lambda h: (not h.problems, h.host))
        items.append(ZoneItem(name=r.name or r.id, available=r.available, host_count=r.host_count,
                              compute_hosts=sum(1 for h in hosts if "nova-compute" in h.services),
                              hosts_with_problems=sum(1 for h in hosts if h.problems), hosts=hosts[:50]))
    parts = [f"{z.name}: {z.compute_hosts} compute host(s)" + (f", {z.hosts_with_problems} with problems"
                                                               if z.hosts_with_problems else "")
             + ("" if z.available is not False else ", UNAVAILABLE") for z in items]
    summary = paging_summary(total, len(items), offset, "availability zones") + (" " + "; ".join(parts) + "." if parts else "")
    return ZoneList(summary=summary, page=PageInfo.of(total, len(items), offset, limit), zones=items, snapshot=snap)


# ---------------------------------------------------------------------------------------------
# resource providers


class ProviderResource(BaseModel):
    resource_class: str
    total: int | None
    reserved: int | None
    allocation_ratio: float | None
    capacity: float | None = Field(description="(total - reserved) * allocation_ratio: what Placement allocates up to.")
    used: int | None = Field(description="Allocated to consumers (null if Placement reported no usage).")
    max_unit: int | None = Field(description="Largest single allocation (one instance can ask at most this).")
    min_unit: int | None
    step_size: int | None


class ProviderItem(BaseModel):
    id: str
    name: str | None
    parent_provider_id: str | None
    root_provider_id: str | None
    resources: list[ProviderResource] = Field(description="Inventory and usage per resource class.")


class ProviderList(BaseModel):
    summary: str
    page: PageInfo
    resource_providers: list[ProviderItem] = Field(description="This window of providers, by name then id.")
    snapshot: SnapshotInfo


async def resource_provider_list(app: AppContext, *, limit: int, offset: int, name: str | None,
                                 resource_class: str | None) -> ProviderList:
    cloud = app.cloud_name
    conds: list[ColumnElement[bool]] = []
    if name and name.strip():
        conds.append(contains(providers.c.name, name.strip(), False))
    if resource_class:
        conds.append(providers.c.id.in_(select(inventories.c.resource_provider_id).where(
            inventories.c.cloud == cloud, inventories.c.resource_class == resource_class.strip().upper())))
    check_window(limit, offset)
    return await app.read(["resource_providers"], _read_providers, cloud, conds, limit, offset)


def _read_providers(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
                    offset: int) -> ProviderList:
    total, rows, _ = list_page(conn, cloud, providers, conds, (providers.c.name, providers.c.id), limit, offset)
    inv: dict[str, list[Any]] = {}
    used: dict[tuple[str, str], int] = {}
    if rows:
        ids = [r.id for r in rows]
        for i in conn.execute(select(inventories).where(
                inventories.c.cloud == cloud, inventories.c.resource_provider_id.in_(ids))
                .order_by(inventories.c.resource_class)).all():
            inv.setdefault(i.resource_provider_id, []).append(i)
        for u in conn.execute(select(usages).where(
                usages.c.cloud == cloud, usages.c.resource_provider_id.in_(ids))).all():
            used[(u.resource_provider_id, u.resource_class)] = u.used
    items = []
    for r in rows:
        res = []
        for i in inv.get(r.id, []):
            cap = None if i.total is None else (i.total - (i.reserved or 0)) * (i.allocation_ratio or 1.0)
            res.append(ProviderResource(resource_class=i.resource_class, total=i.total, reserved=i.reserved,
                                        allocation_ratio=i.allocation_ratio, capacity=cap,
                                        used=used.get((r.id, i.resource_class)), max_unit=i.max_unit,
                                        min_unit=i.min_unit, step_size=i.step_size))
        items.append(ProviderItem(id=r.id, name=r.name, parent_provider_id=r.parent_provider_id,
                                  root_provider_id=r.root_provider_id, resources=res))
    summary = paging_summary(total, len(items), offset, "resource providers") + \
        " For the fit of a flavor use plan_capacity; for fill levels per hypervisor, monitor_resources."
    return ProviderList(summary=summary, page=PageInfo.of(total, len(items), offset, limit),
                        resource_providers=items, snapshot=snap)


__all__ = ["availability_zone_list", "resource_provider_list"]
