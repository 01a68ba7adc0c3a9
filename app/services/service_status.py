"""Service health (the get_service_status tool): Nova services, Neutron agents and Cinder services in one
shape, plus the API endpoints of the Keystone catalog (read live from the cloud connection's token)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Boolean, Connection, Select, String, case, cast, func, literal, or_, select, union_all

from app.errors import InvalidArgument, OpsError
from app.resources.compute_services import table as compute_services
from app.resources.network_agents import table as network_agents
from app.resources.volume_services import table as volume_services
from app.services.completeness import IncompleteKinds, assess
from app.services.models import PageInfo, SnapshotInfo
from app.services.query import check_window, live, ordered

if TYPE_CHECKING:
    from app.context import AppContext

# service label -> snapshot kind
SERVICE_KINDS = {"compute": "compute_services", "network": "network_agents", "block_storage": "volume_services"}
MAX_SERVICES_LIMIT = 1000
DOWN_CAP = 50


def services_union(cloud: str) -> Any:
    """Subquery over live services of the three kinds: service, id, binary, host, zone, status
    (enabled/disabled), state (up/down), disabled_reason, last_heartbeat_at, agent_type."""
    cs, na, vs = compute_services, network_agents, volume_services
    null_str = cast(literal(None), String)
    null_bool = cast(literal(None), Boolean)
    return union_all(
        select(literal("compute").label("service"), cs.c.id, cs.c.binary, cs.c.host, cs.c.zone, cs.c.status,
               cs.c.state, cs.c.disabled_reason, cs.c.updated_at.label("last_heartbeat_at"),
               null_str.label("agent_type"), cs.c.forced_down.label("forced_down")).where(live(cs, cloud)),
        select(literal("network"), na.c.id, na.c.binary, na.c.host, na.c.availability_zone,
               case((na.c.admin_state_up.is_(False), "disabled"), else_="enabled"),
               case((na.c.alive.is_(True), "up"), else_="down"), null_str, na.c.heartbeat_at,
               na.c.agent_type, null_bool).where(live(na, cloud)),
        select(literal("block_storage"), vs.c.id, vs.c.binary, vs.c.host, vs.c.zone, vs.c.status, vs.c.state,
               vs.c.disabled_reason, vs.c.updated_at, null_str, null_bool).where(live(vs, cloud)),
    ).subquery("svc")


def is_down(svc: Any) -> Any:
    return svc.c.state == "down"


def is_problem(svc: Any) -> Any:
    return or_(svc.c.state == "down", svc.c.status == "disabled")


class ServiceOut(BaseModel):
    service: str = Field(description="compute (Nova service), network (Neutron agent) or block_storage (Cinder service).")
    id: str
    binary: str | None = Field(description="nova-compute, neutron-openvswitch-agent, cinder-volume, ...")
    host: str | None
    zone: str | None = Field(description="Availability zone.")
    status: str | None = Field(description="enabled or disabled (Neutron: admin_state_up).")
    state: str | None = Field(description="up or down (heartbeat; Neutron: alive).")
    disabled_reason: str | None = None
    last_heartbeat_at: datetime | None = Field(description="Last heartbeat reported by the API (UTC).")
    agent_type: str | None = Field(default=None, description="Neutron agent type.")
    forced_down: bool | None = Field(default=None, description="Nova only (2.11+): forced down by an operator "
                                                               "(e.g. host fencing); null for agents and Cinder.")
    why: str | None = Field(default=None, description="For a down or disabled service, why, in one line: forced "
                                                      "down, no heartbeat since when, disabled and its reason.")


class ServiceCount(BaseModel):
    service: str
    binary: str | None
    state: str | None
    status: str | None
    count: int


class EndpointOut(BaseModel):
    service_type: str | None = Field(description="Catalog service type (compute, network, volumev3, ...).")
    service_name: str | None
    interface: str | None = Field(description="public, internal or admin.")
    region: str | None
    url: str | None


class ServiceStatus(PageInfo):
    summary: str = Field(description="A few lines: totals, what is down or disabled and why, how to page.")
    complete: bool = Field(description="True when every service kind asked for has completed a sync. False: services of "
                                       "the kinds in `incomplete` are missing or partial, not healthy.")
    coverage: str = Field(description="One line: complete, or which kinds are not known yet and why.")
    incomplete: list[IncompleteKinds] = Field(description="Service kinds whose list is not known yet, with why.")
    services: list[ServiceOut] = Field(description="This window of services (down first, then by service, binary, host).")
    down: list[ServiceOut] = Field(description=f"Every service whose state is down (up to {DOWN_CAP}).")
    down_total: int = Field(description="How many services are down.")
    counts: list[ServiceCount] = Field(description="Counts per service, binary, state and status.")
    unknown_kinds: list[str] = Field(description="Service kinds never synced or unavailable (e.g. no admin rights): "
                                                 "their services are absent from this answer, not healthy.")
    endpoints: list[EndpointOut] = Field(description="API endpoints listed in the Keystone catalog of our token "
                                                     "(only with include_endpoints=true; empty otherwise).")
    catalog_error: str | None = Field(default=None, description="Why the catalog could not be read (endpoints then empty).")
    snapshot: SnapshotInfo


def _read_catalog(conn: Any) -> list[dict[str, Any]]:
    access = conn.session.auth.get_access(conn.session)
    return list(access.service_catalog.catalog or [])


async def catalog_endpoints(app: AppContext) -> tuple[list[EndpointOut], str | None]:
    """Endpoints from the token's catalog, fetched on a worker thread; on failure, the reason."""
    try:
        catalog = await app.cloud.run(_read_catalog, app.cloud.conn, doing="reading the service catalog")
    except OpsError as e:
        return [], e.message
    out = [
        EndpointOut(service_type=svc.get("type"), service_name=svc.get("name"), interface=ep.get("interface"),
                    region=ep.get("region_id") or ep.get("region"), url=ep.get("url"))
        for svc in catalog for ep in svc.get("endpoints") or []
    ]
    out.sort(key=lambda e: (e.service_type or "", e.interface or "", e.region or ""))
    return out, None


def service_out(row: Any) -> ServiceOut:
    """A service row with ``why`` filled for one that is down or disabled."""
    out = ServiceOut.model_validate(dict(row))
    why = []
    if out.state == "down":
        if out.forced_down:
            why.append("forced down by an operator")
        hb = out.last_heartbeat_at
        why.append(f"no heartbeat since {hb:%Y-%m-%d %H:%M:%S} UTC" if hb else "no heartbeat recorded")
    if out.status == "disabled":
        why.append(f"disabled: {out.disabled_reason}" if out.disabled_reason else "disabled (no reason given)")
    if why:
        out.why = "; ".join(why)
    return out


def _ordered(stmt: Select[Any], svc: Any) -> Select[Any]:
    return stmt.order_by(case((is_down(svc), 0), else_=1), *ordered(svc.c.service, svc.c.binary, svc.c.host, svc.c.id))


def _read_services(conn: Connection, snapshot: SnapshotInfo, cloud: str, service: str | None, only_problems: bool,
                   limit: int, offset: int) -> tuple[SnapshotInfo, int, list[Any], int, list[Any], list[Any]]:
    """The rows of one get_service_status answer, in one read (see :meth:`AppContext.read`)."""
    svc = services_union(cloud)
    conds = []
    if service:
        conds.append(svc.c.service == service)
    page_conds = conds + ([is_problem(svc)] if only_problems else [])
    total = conn.execute(select(func.count()).select_from(svc).where(*page_conds)).scalar_one()
    rows = conn.execute(_ordered(select(svc).where(*page_conds), svc).limit(limit).offset(offset)).mappings().all()
    down_total = conn.execute(select(func.count()).select_from(svc).where(*conds, is_down(svc))).scalar_one()
    down = conn.execute(_ordered(select(svc).where(*conds, is_down(svc)), svc).limit(DOWN_CAP)).mappings().all()
    keys = (svc.c.service, svc.c.binary, svc.c.state, svc.c.status)
    summary = conn.execute(select(*keys, func.count().label("count")).where(*conds)
                           .group_by(*keys).order_by(*ordered(*keys))).mappings().all()
    return snapshot, int(total), list(rows), int(down_total), list(down), list(summary)


async def service_status(app: AppContext, *, only_problems: bool, service: str | None, limit: int,
                         offset: int, include_endpoints: bool = False) -> ServiceStatus:
    check_window(limit, offset, MAX_SERVICES_LIMIT)
    if service is not None and service not in SERVICE_KINDS:
        raise InvalidArgument(f"service must be one of {', '.join(SERVICE_KINDS)} (got {service!r}).")
    kinds = [SERVICE_KINDS[service]] if service else list(SERVICE_KINDS.values())
    snapshot, total, rows, down_total, down, summary = await app.read(
        kinds, _read_services, app.cloud_name, service, only_problems, limit, offset)
    endpoints, catalog_error = await catalog_endpoints(app) if include_endpoints else ([], None)
    bad = {k.kind for k in snapshot.kinds if k.status in ("never_synced", "unavailable")}
    verdict = assess(snapshot, what="service lists")
    counts = [ServiceCount.model_validate(dict(r)) for r in summary]
    down_out = [service_out(r) for r in down]
    disabled = sum(c.count for c in counts if c.status == "disabled")
    lines = [f"{sum(c.count for c in counts)} services: {int(down_total)} down, {disabled} disabled"
             + ("" if verdict.complete else f" ({verdict.summary})") + "."]
    lines += [f"DOWN {o.service} {o.binary} on {o.host}: {o.why}" for o in down_out[:10]]
    if down_total > 10:
        lines.append(f"... {int(down_total) - 10} more down (only_problems=true lists them).")
    if catalog_error:
        lines.append(f"Catalog endpoints unavailable: {catalog_error}")
    elif not include_endpoints:
        lines.append("API endpoints of the catalog: ask with include_endpoints=true.")
    return ServiceStatus(
        **PageInfo.of(int(total), len(rows), offset, limit).model_dump(),
        summary="\n".join(lines),
        complete=verdict.complete, coverage=verdict.summary, incomplete=verdict.incomplete,
        services=[service_out(r) for r in rows],
        down=down_out,
        down_total=int(down_total),
        counts=counts,
        unknown_kinds=sorted(bad),
        endpoints=endpoints,
        catalog_error=catalog_error,
        snapshot=snapshot,
    )
