"""Instance reads (get_instance_details, search_instances, get_instance_by_name,
get_instances_by_status): one base SELECT of servers with their flavor, image, project and user names
joined in SQL, windowed in SQL, then the page's child rows (addresses, volumes, security groups) in one
query per link table. Nothing scales with the fleet outside SQL. The answer models are in
:mod:`app.services.instance_models`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select, true

from app.errors import Conflict, InvalidArgument, NotFound
from app.resources.flavors import table as flavors
from app.resources.images import table as images
from app.resources.projects import table as projects
from app.resources.servers import addresses, server_security_groups, server_volumes
from app.resources.servers import table as servers
from app.resources.users import table as users
from app.resources.volumes import table as volumes
from app.services.instance_models import (DETAILS, ECHO_MAX, AddressOut, AttachedVolume, FlavorRef, ImageRef, Instance,
                                          InstanceList, InstanceResult, InstanceSearchResult, fault_of)
from app.services.instance_search import SEARCH_FIELDS, Matcher, RowidSet, Selector, Where, has_fts, rowid, suggest
from app.services.models import PageInfo, SnapshotInfo, clip
from app.services.query import check_window, fetch_page, live, split_csv
from app.services.scope import restrict, visible
from app.services.query import ordered as nulls_pinned

if TYPE_CHECKING:
    from app.context import AppContext

NOVA_STATUSES = (
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED", "REBOOT",
    "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF",
    "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE",
)
# Kinds an instance answer is built from (for the snapshot freshness block).
KINDS = ("servers", "flavors", "images", "projects")
DETAIL_KINDS = KINDS + ("volumes",)


def _base() -> Select[Any]:
    s, f, i, p, u = servers, flavors, images, projects, users
    return (
        select(
            s.c.id, s.c.name, s.c.status, s.c.task_state, s.c.vm_state, s.c.power_state_name, s.c.locked,
            s.c.flavor_id, func.coalesce(s.c.flavor_name, f.c.name).label("flavor_name"),
            func.coalesce(s.c.flavor_vcpus, f.c.vcpus).label("vcpus"),
            func.coalesce(s.c.flavor_ram_mb, f.c.ram_mb).label("ram_mb"),
            func.coalesce(s.c.flavor_disk_gb, f.c.disk_gb).label("disk_gb"),
            s.c.image_id, i.c.name.label("image_name"), s.c.host, s.c.hypervisor_hostname, s.c.availability_zone,
            s.c.project_id, p.c.name.label("project_name"), s.c.user_id, u.c.name.label("user_name"),
            s.c.key_name, s.c.created_at, s.c.updated_at, s.c.launched_at, s.c.raw["fault"].label("fault"),
        )
        .select_from(
            s.outerjoin(f, (f.c.cloud == s.c.cloud) & (f.c.id == s.c.flavor_id))
            .outerjoin(i, (i.c.cloud == s.c.cloud) & (i.c.id == s.c.image_id))
            .outerjoin(p, (p.c.cloud == s.c.cloud) & (p.c.id == s.c.project_id))
            .outerjoin(u, (u.c.cloud == s.c.cloud) & (u.c.id == s.c.user_id))
        )
    )


def _ip_label(a: AddressOut) -> str:
    return f"{a.ip_address} floating" if a.type == "floating" else str(a.ip_address)


def _to_instance(r: Any, addrs: list[AddressOut], full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id, "name": r.name, "status": r.status, "task_state": r.task_state, "host": r.host,
        "flavor_name": r.flavor_name, "ips": [_ip_label(a) for a in addrs if a.ip_address],
        "fault": fault_of(r.fault, full),
    }
    if full:
        out.update({
            "vm_state": r.vm_state, "power_state": r.power_state_name, "locked": r.locked,
            "flavor": FlavorRef(id=r.flavor_id, name=r.flavor_name, vcpus=r.vcpus, ram_mb=r.ram_mb, disk_gb=r.disk_gb),
            "image": ImageRef(id=r.image_id, name=r.image_name) if r.image_id else None,
            "hypervisor_hostname": r.hypervisor_hostname, "availability_zone": r.availability_zone,
            "project_id": r.project_id, "project_name": r.project_name, "user_id": r.user_id,
            "user_name": r.user_name, "key_name": r.key_name, "created_at": r.created_at,
            "updated_at": r.updated_at, "launched_at": r.launched_at, "addresses": addrs,
            "volumes": None, "security_groups": None,
        })
    return out


def _children(conn: Connection, cloud: str, ids: Sequence[str], include_all: bool) -> dict[str, dict[str, list[Any]]]:
    """The page's link rows: one query per link table (addresses always; volumes and security groups
    with ``include_all``)."""
    out: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    if not ids:
        return out
    a = addresses
    # Each lookup is pinned to the link table's (cloud, server_id) index: with statistics, SQLite
    # otherwise walks the index of the ORDER BY column over every row of the cloud (20 ms at 50k).
    for r in conn.execute(
        select(a).where(a.c.cloud == cloud, a.c.server_id.in_(ids)).order_by(*nulls_pinned(a.c.network_name, a.c.ip_address))
        .with_hint(a, "INDEXED BY ix_server_addresses_cloud_server_id", "sqlite")
    ):
        out[r.server_id]["addresses"].append(AddressOut(
            network=r.network_name, ip_address=r.ip_address, version=r.ip_version, type=r.ip_type,
            mac_address=r.mac_address))
    if not include_all:
        return out
    sv, v = server_volumes, volumes
    for r in conn.execute(
        select(sv.c.server_id, sv.c.volume_id, sv.c.delete_on_termination, v.c.name, v.c.size_gb)
        .select_from(sv.outerjoin(v, (v.c.cloud == sv.c.cloud) & (v.c.id == sv.c.volume_id)))
        .where(sv.c.cloud == cloud, sv.c.server_id.in_(ids)).order_by(*nulls_pinned(sv.c.volume_id))
        .with_hint(sv, "INDEXED BY ix_server_volumes_cloud_server_id", "sqlite")
    ):
        out[r.server_id]["volumes"].append(AttachedVolume(
            id=r.volume_id, name=r.name, size_gb=r.size_gb, delete_on_termination=r.delete_on_termination))
    sg = server_security_groups
    for r in conn.execute(
        select(sg.c.server_id, sg.c.security_group_name)
        .where(sg.c.cloud == cloud, sg.c.server_id.in_(ids)).order_by(*nulls_pinned(sg.c.security_group_name))
        .with_hint(sg, "INDEXED BY ix_server_security_groups_cloud_server_id", "sqlite")
    ):
        out[r.server_id]["security_groups"].append(r.security_group_name)
    return out


# Up to this many matches, a page is sorted from the matches themselves (rowid lookups); above it,
# the live (cloud, name) index is walked in order, probing the match set, until the window is full.
SORT_MATCHES_MAX = 3000


def _ordered(app: AppContext, conn: Connection, where: Where | None, cache_key: Any) -> Any:
    """Rowids of the live servers matching ``where``, ordered by name then id: computed once per
    data version of the instance kinds (:class:`app.services.cache.OrderCache`), then every page of
    the same question is a slice."""
    s = servers
    cloud = app.cloud_name

    def compute() -> list[int]:
        conds = [live(s, cloud)]
        walk_names = where is None
        if isinstance(where, RowidSet):
            n = conn.execute(select(func.count()).select_from(where.select.subquery())).scalar_one()
            conds.append(where.condition())
            walk_names = n > SORT_MATCHES_MAX
        elif where is not None:
            conds.append(where)
        stmt = select(rowid(s)).where(*conds).order_by(s.c.name, s.c.id)
        if walk_names:
            stmt = stmt.with_hint(s, "INDEXED BY ix_servers_cloud_name", "sqlite")
        return [r for (r,) in conn.execute(stmt)]

    return app.orders.get(conn, cloud, KINDS, cache_key, compute)


def _page(app: AppContext, conn: Connection, where: Where | None, limit: int, offset: int,
          include_all: bool, cache_key: Any = None, full: bool = True) -> tuple[int, list[Instance]]:
    """Count and window the live servers matching ``where`` (ordered by name, then id: the order of
    the live (cloud, name, id) and (cloud, status, name, id) indexes), then read only the window's rows
    with their names and link rows. ``cache_key`` (SQLite): the question is one whose ordered match set
    is worth keeping (see :func:`_ordered`)."""
    cloud = app.cloud_name
    s = servers
    if app.scope.restricted:  # the caller's projects only: a plain condition, its own count, no shared cache
        cond = where.condition() if isinstance(where, RowidSet) else where
        where, cache_key = restrict(app, s) if cond is None else and_(cond, restrict(app, s)), None
    if app.db.dialect_name == "sqlite":
        conds = [live(s, cloud)]
        if cache_key is not None:
            ordered = _ordered(app, conn, where, cache_key)
            total = len(ordered)
            order = list(ordered[offset:offset + limit])
        else:
            if isinstance(where, RowidSet):
                # The set holds distinct live rowids of this cloud: its size is the total.
                total = conn.execute(select(func.count()).select_from(where.select.subquery())).scalar_one()
                conds.append(where.condition())
            else:
                if where is not None:
                    conds.append(where)
                count = select(func.count()).select_from(s).where(*conds)
                if where is None:  # index-only over the live (cloud, name) partial index
                    count = count.with_hint(s, "INDEXED BY ix_servers_cloud_name", "sqlite")
                total = conn.execute(count).scalar_one()
            window = select(rowid(s)).where(*conds).order_by(s.c.name, s.c.id).limit(limit).offset(offset)
            if where is None or (isinstance(where, RowidSet) and total > SORT_MATCHES_MAX):
                window = window.with_hint(s, "INDEXED BY ix_servers_cloud_name", "sqlite")
            order = [r for (r,) in conn.execute(window)] if offset < total else []
        fetched = {r.rid: r for r in conn.execute(
            _base().add_columns(rowid(s).label("rid")).where(rowid(s).in_(order)))} if order else {}
        rows = [fetched[r] for r in order if r in fetched]
    else:
        cond = where.condition() if isinstance(where, RowidSet) else where
        stmt = _base().where(live(s, cloud), cond if cond is not None else true()).order_by(
            *nulls_pinned(s.c.name, s.c.id))
        total, rows = fetch_page(conn, stmt, limit=limit, offset=offset)
    kids = _children(conn, cloud, [r.id for r in rows], include_all)
    result = []
    for r in rows:
        k = kids.get(r.id, {})
        item = _to_instance(r, k.get("addresses", []), full)
        if include_all and full:
            item.update(volumes=k.get("volumes", []), security_groups=k.get("security_groups", []))
        result.append(Instance(**item))
    return int(total), result


def check_detail(detail: str) -> bool:
    """True for 'full', False for 'brief'; anything else is refused."""
    if detail not in DETAILS:
        raise InvalidArgument(f"detail must be 'brief' or 'full' (got {clip(detail)}).")
    return detail == "full"


async def instance_details(app: AppContext, instance_names: str, instance_ids: str, all_instances: bool,
                           limit: int, offset: int, include_all: bool, detail: str = "full") -> InstanceList:
    check_window(limit, offset)
    full = check_detail(detail)
    names, ids = split_csv(instance_names), split_csv(instance_ids)
    if not names and not ids and not all_instances:
        raise InvalidArgument(
            "Say which instances: pass instance_names and/or instance_ids (comma-separated), or "
            "all_instances=true to page through every instance (use search_instances for partial matches).")
    where: ColumnElement[bool] | None = None
    if names or ids:
        tests = ([lambda t: t.c.name.in_(names)] if names else []) + ([lambda t: t.c.id.in_(ids)] if ids else [])
        where = Selector(app.cloud_name, app.db.dialect_name).any_of(tests)

    def read(conn: Connection, snap: SnapshotInfo) -> InstanceList:
        not_found: list[str] = []
        if where is not None:
            cond = where.condition() if isinstance(where, RowidSet) else where
            found = conn.execute(select(servers.c.name, servers.c.id).where(visible(app, servers), cond)).all()
            found_names = {n for n, _ in found}
            found_ids = {i for _, i in found}
            not_found = [n for n in names if n not in found_names] + [i for i in ids if i not in found_ids]
            if not found:
                hints: list[str] = []
                for n in names[:5]:
                    hints += [h for h in suggest(app, conn, n) if h not in hints]
                raise NotFound(f"No instance matches the names {names} or IDs {ids} in the snapshot "
                               f"(as of {snap.as_of}).", candidates=hints[:8])
        total, items = _page(app, conn, where, limit, offset, include_all,
                             cache_key=("all",) if where is None else None, full=full)
        return InstanceList(**PageInfo.of(total, len(items), offset, limit).model_dump(), instances=items,
                            not_found=not_found, snapshot=snap)

    return await app.read(DETAIL_KINDS if include_all else KINDS, read)


async def search(app: AppContext, search_term: str, search_in: str, limit: int, offset: int,
                 case_sensitive: bool, detail: str = "brief") -> InstanceSearchResult:
    check_window(limit, offset)
    full = check_detail(detail)
    term = search_term if case_sensitive else search_term.strip()
    if not term.strip():
        raise InvalidArgument("search_term must not be empty (use get_instance_details with all_instances=true "
                              "to list every instance).")
    field = (search_in or "name").strip().lower()
    if field not in SEARCH_FIELDS:
        raise InvalidArgument(f"search_in must be one of {', '.join(SEARCH_FIELDS)} (got {clip(search_in)}).")
    dialect = app.db.dialect_name

    def read(conn: Connection, snap: SnapshotInfo) -> InstanceSearchResult:
        use_fts = dialect == "sqlite" and has_fts(conn)
        cond = Matcher(app.cloud_name, term, case_sensitive, dialect, use_fts).condition(field)
        total, items = _page(app, conn, cond, limit, offset, include_all=False,
                             cache_key=("search", field, term, case_sensitive, use_fts), full=full)
        return InstanceSearchResult(**PageInfo.of(total, len(items), offset, limit).model_dump(), instances=items,
                                    search_term=term[:ECHO_MAX], search_in=field, case_sensitive=case_sensitive,
                                    snapshot=snap)

    return await app.read(KINDS, read)


async def by_name(app: AppContext, instance_name: str) -> InstanceResult:
    name = (instance_name or "").strip()
    if not name:
        raise InvalidArgument("instance_name must not be empty.")

    def read(conn: Connection, snap: SnapshotInfo) -> InstanceResult:
        # Two keyed lookups (the live name index, the primary key): an OR of both lets SQLite's
        # planner fall back to scanning the fat rows.
        rows = []
        for where in (servers.c.name == name, servers.c.id == name):
            rows += conn.execute(select(servers.c.id, servers.c.name, servers.c.status, servers.c.host)
                                 .where(visible(app, servers), where)).all()
        rows = sorted({r.id: r for r in rows}.values(), key=lambda r: r.id)
        by_id = [r for r in rows if r.id == name]
        if by_id:
            rows = by_id
        if not rows:
            raise NotFound(f"No instance named (or with ID) {clip(name)} in the snapshot (as of {snap.as_of}); names "
                           "match exactly (use search_instances for partial matches).",
                           candidates=suggest(app, conn, name))
        if len(rows) > 1:
            listed = "; ".join(f"{r.id} (status {r.status}, host {r.host})" for r in rows)
            raise Conflict(f"{len(rows)} instances are named {clip(name)}: {listed}. Ask again with one of these IDs.")
        _, items = _page(app, conn, servers.c.id == rows[0].id, 1, 0, include_all=True)
        return InstanceResult(instance=items[0], snapshot=snap)

    return await app.read(DETAIL_KINDS, read)


async def by_status(app: AppContext, status: str, limit: int, offset: int, detail: str = "brief") -> InstanceList:
    check_window(limit, offset)
    full = check_detail(detail)
    st = (status or "").strip().upper()
    if st not in NOVA_STATUSES:
        raise InvalidArgument(f"Unknown instance status {clip(status)}. Valid Nova statuses: {', '.join(NOVA_STATUSES)}.")

    def read(conn: Connection, snap: SnapshotInfo) -> InstanceList:
        # A plain condition: the live (cloud, status, name) index serves the count and the name order.
        total, items = _page(app, conn, servers.c.status == st, limit, offset, include_all=False,
                             cache_key=("status", st), full=full)
        return InstanceList(**PageInfo.of(total, len(items), offset, limit).model_dump(), instances=items,
                            snapshot=snap)

    return await app.read(KINDS, read)
