"""Octavia load balancers from the snapshot: a lean list (get_load_balancers) and one load balancer as a
tree (get_load_balancer): listeners -> default pool -> health monitor and members, with their
provisioning and operating status, the pools no listener uses, the amphorae, and what is wrong.

A member is *down* when its operating_status is ERROR or OFFLINE while its admin_state_up is true (an
operator disabling a member makes it OFFLINE on purpose: not a problem). The tree fits the answer
budget by showing fewer members per pool (each pool says how many it has and how many are down).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, and_, func, select

from app.errors import Conflict, InvalidArgument, NotFound
from app.resources.lb_amphorae import table as amphorae
from app.resources.lb_health_monitors import table as monitors
from app.resources.lb_listeners import table as listeners
from app.resources.lb_pools import members
from app.resources.lb_pools import table as pools
from app.resources.load_balancers import table as lbs
from app.resources.projects import table as projects
from app.services.budget import DEFAULT_BUDGET, HARD_BUDGET, json_size
from app.services.inventory import eq_ci, id_or_name
from app.services.models import PageInfo, SnapshotInfo, clip
from app.services.query import check_window, close_matches, contains, count_mix, live, ordered, paging_summary
from app.services.scope import restrict

if TYPE_CHECKING:
    from app.context import AppContext

LIST_KINDS = ("load_balancers", "lb_pools", "projects")
TREE_KINDS = ("load_balancers", "lb_listeners", "lb_pools", "lb_health_monitors", "lb_amphorae")
PROVISIONING = ("ACTIVE", "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "ERROR", "DELETED")
OPERATING = ("ONLINE", "DEGRADED", "ERROR", "OFFLINE", "DRAINING", "NO_MONITOR")
MEMBER_DOWN = ("ERROR", "OFFLINE")
MAX_MEMBERS = 200


def member_down(m: Any = members.c) -> ColumnElement[bool]:
    """A member that should serve and does not: ERROR/OFFLINE with admin_state_up true."""
    return and_(m.operating_status.in_(MEMBER_DOWN), m.admin_state_up.is_(True))


def lb_problem(lb: Any = lbs.c) -> ColumnElement[bool]:
    return (lb.provisioning_status == "ERROR") | lb.operating_status.in_(("ERROR", "DEGRADED"))


def members_down_by_lb(conn: Connection, cloud: str, lb_ids: Sequence[str]) -> dict[str, int]:
    """Members down per load balancer (through their pools)."""
    if not lb_ids:
        return {}
    rows = conn.execute(select(pools.c.loadbalancer_id, func.count()).select_from(members.join(
        pools, and_(pools.c.cloud == members.c.cloud, pools.c.id == members.c.pool_id)))
        .where(live(pools, cloud), pools.c.loadbalancer_id.in_(list(lb_ids)), member_down())
        .group_by(pools.c.loadbalancer_id)).all()
    return {str(k): int(n) for k, n in rows}


def project_names(conn: Connection, cloud: str, ids: Sequence[str | None]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {str(i): n for i, n in conn.execute(select(projects.c.id, projects.c.name).where(
        live(projects, cloud), projects.c.id.in_(wanted))).all()}


def find_lb(conn: Connection, cloud: str, name_or_id: str, mine: ColumnElement[bool]) -> Any:
    """The load balancer with this ID (live or deleted) or this exact name (live), among those ``mine``
    selects (the caller's projects, app/services/scope.py); NotFound says which names look alike,
    Conflict lists the IDs sharing a name."""
    wanted = name_or_id.strip()
    row = conn.execute(select(lbs).where(lbs.c.cloud == cloud, lbs.c.id == wanted, mine)).first()
    if row is not None:
        return row
    rows = conn.execute(select(lbs).where(live(lbs, cloud), mine, lbs.c.name == wanted).order_by(lbs.c.id)
                        .limit(11)).all()
    if len(rows) > 1:
        raise Conflict(f"Several load balancers are named {clip(wanted)}: pass one of their IDs: "
                       + ", ".join(r.id for r in rows[:10]) + ".")
    if not rows:
        names = conn.execute(select(lbs.c.name).where(live(lbs, cloud), mine, lbs.c.name.is_not(None))).scalars().all()
        raise NotFound(f"No load balancer with ID or name {clip(wanted)} in the snapshot (get_load_balancers "
                       "lists them).", close_matches(wanted, [str(n) for n in names]))
    return rows[0]


# ---------------------------------------------------------------------------------------------
# the list


class LoadBalancerItem(BaseModel):
    id: str
    name: str | None
    provisioning_status: str | None = Field(description="ACTIVE, PENDING_*, ERROR: did the last change go through.")
    operating_status: str | None = Field(description="ONLINE, DEGRADED (some members down), ERROR, OFFLINE, NO_MONITOR.")
    admin_state_up: bool | None
    vip_address: str | None
    vip_subnet_id: str | None
    provider: str | None
    project_id: str | None
    project_name: str | None
    listeners: int = Field(description="Listeners on it.")
    pools: int = Field(description="Pools on it.")
    members_down: int | None = Field(description="Members ERROR/OFFLINE with admin_state_up true (null: pools never synced).")


class LoadBalancerList(BaseModel):
    summary: str = Field(description="How many match, the status mix, the load balancers with problems, how to page.")
    page: PageInfo
    provisioning_counts: dict[str, int] = Field(description="Matching load balancers per provisioning_status.")
    operating_counts: dict[str, int] = Field(description="Matching load balancers per operating_status.")
    load_balancers: list[LoadBalancerItem] = Field(description="This window, by name then id.")
    snapshot: SnapshotInfo


async def load_balancer_list(app: AppContext, *, status: str | None, operating_status: str | None,
                             project: str | None, name: str | None, limit: int, offset: int) -> LoadBalancerList:
    cloud = app.cloud_name
    c = lbs.c
    conds: list[ColumnElement[bool]] = []
    if status:
        conds.append(eq_ci(c.provisioning_status, status))
    if operating_status:
        conds.append(eq_ci(c.operating_status, operating_status))
    if project:
        conds.append(id_or_name(c.project_id, project.strip(), "projects", cloud))
    if name and name.strip():
        conds.append(contains(c.search_text, name.strip().lower(), False))
    conds.append(restrict(app, lbs))
    check_window(limit, offset)
    return await app.read(LIST_KINDS, _read_list, cloud, conds, limit, offset)


def _read_list(conn: Connection, snap: SnapshotInfo, cloud: str, conds: list[ColumnElement[bool]], limit: int,
               offset: int) -> LoadBalancerList:
    c = lbs.c
    where = and_(live(lbs, cloud), *conds)

    def counts(col: Any) -> dict[str, int]:
        return {str(k): int(n) for k, n in conn.execute(
            select(col, func.count()).where(where).group_by(col).order_by(func.count().desc(), col)).all()}

    by_prov, by_op = counts(c.provisioning_status), counts(c.operating_status)
    total = sum(by_prov.values())
    rows = conn.execute(select(lbs).where(where).order_by(*ordered(c.name, c.id)).limit(limit).offset(offset)).all()
    problems = conn.execute(select(c.name, c.id, c.provisioning_status, c.operating_status).where(
        where, lb_problem()).order_by(*ordered(c.name, c.id)).limit(6)).all()
    ids = [r.id for r in rows]
    down = members_down_by_lb(conn, cloud, ids)
    pools_synced = any(k.kind == "lb_pools" and k.as_of is not None for k in snap.kinds)
    names = project_names(conn, cloud, [r.project_id for r in rows])
    items = []
    for r in rows:
        raw = r.raw if isinstance(r.raw, dict) else {}
        items.append(LoadBalancerItem(
            id=r.id, name=r.name, provisioning_status=r.provisioning_status, operating_status=r.operating_status,
            admin_state_up=r.admin_state_up, vip_address=r.vip_address, vip_subnet_id=r.vip_subnet_id,
            provider=r.provider, project_id=r.project_id, project_name=names.get(r.project_id),
            listeners=len(raw.get("listeners") or []), pools=len(raw.get("pools") or []),
            members_down=down.get(r.id, 0) if pools_synced else None))
    summary = paging_summary(total, len(items), offset, "load balancers") + count_mix(by_prov, "Provisioning") + \
        count_mix(by_op, "Operating")
    if problems:
        summary += " Problems: " + ", ".join(f"{p.name or p.id} ({p.provisioning_status}/{p.operating_status})"
                                             for p in problems[:5]) + ("..." if len(problems) > 5 else "") + \
            " (get_load_balancer shows which listener, pool or member)."
    return LoadBalancerList(summary=summary, page=PageInfo.of(total, len(items), offset, limit),
                            provisioning_counts=by_prov, operating_counts=by_op, load_balancers=items, snapshot=snap)


# ---------------------------------------------------------------------------------------------
# one load balancer as a tree


class MemberNode(BaseModel):
    id: str | None
    name: str | None
    address: str | None
    protocol_port: int | None
    weight: int | None
    backup: bool | None
    admin_state_up: bool | None
    operating_status: str | None
    provisioning_status: str | None
    down: bool = Field(description="ERROR/OFFLINE while admin_state_up is true.")


class HealthMonitorNode(BaseModel):
    id: str
    name: str | None
    type: str | None
    delay: int | None
    timeout: int | None
    max_retries: int | None
    max_retries_down: int | None
    http_method: str | None
    url_path: str | None
    expected_codes: str | None
    provisioning_status: str | None
    operating_status: str | None


class PoolNode(BaseModel):
    id: str
    name: str | None
    protocol: str | None
    lb_algorithm: str | None
    provisioning_status: str | None
    operating_status: str | None
    admin_state_up: bool | None
    health_monitor: HealthMonitorNode | None = Field(description="null: no health monitor (members are NO_MONITOR).")
    members_total: int
    members_down: int
    members: list[MemberNode] = Field(description="Members, down ones first (fewer than members_total when clipped).")


class ListenerNode(BaseModel):
    id: str
    name: str | None
    protocol: str | None
    protocol_port: int | None
    provisioning_status: str | None
    operating_status: str | None
    admin_state_up: bool | None
    default_pool: PoolNode | None = Field(description="Its default pool (null: none).")


class AmphoraNode(BaseModel):
    id: str
    role: str | None
    status: str | None
    compute_id: str | None = Field(description="The Nova server running it.")
    lb_network_ip: str | None


class LoadBalancerTree(BaseModel):
    summary: str = Field(description="The load balancer, its statuses, and what is wrong (which listener, pool, member).")
    load_balancer: LoadBalancerItem
    description: str | None
    vip_port_id: str | None
    vip_network_id: str | None
    listeners: list[ListenerNode]
    other_pools: list[PoolNode] = Field(description="Pools no listener uses as default pool (L7 policy targets, spares).")
    amphorae: list[AmphoraNode] | None = Field(description="null: amphorae not in the snapshot (admin only).")
    problems: list[str] = Field(description="One line per problem, most severe first.")
    members_clipped: bool = Field(description="True when some pools list fewer members than they have, to fit the answer.")
    snapshot: SnapshotInfo


async def load_balancer_tree(app: AppContext, name_or_id: str, *, limit: int, default_limit: int) -> LoadBalancerTree:
    """The tree within the answer budget: the default one at the default ``limit``, the hard one otherwise
    (app/tools/answers.py applies the same rule)."""
    if not 1 <= limit <= MAX_MEMBERS:
        raise InvalidArgument(f"limit (members shown per pool) must be between 1 and {MAX_MEMBERS}.")
    budget = DEFAULT_BUDGET if limit == default_limit else HARD_BUDGET
    return await app.read(TREE_KINDS + ("projects",), _read_tree, app.cloud_name, name_or_id, limit, budget - 2048,
                          restrict(app, lbs))


def _monitor(r: Any) -> HealthMonitorNode:
    return HealthMonitorNode(id=r.id, name=r.name, type=r.type, delay=r.delay, timeout=r.timeout,
                             max_retries=r.max_retries, max_retries_down=r.max_retries_down, http_method=r.http_method,
                             url_path=r.url_path, expected_codes=r.expected_codes,
                             provisioning_status=r.provisioning_status, operating_status=r.operating_status)


def _member(m: Any) -> MemberNode:
    down = m.operating_status in MEMBER_DOWN and m.admin_state_up is True
    return MemberNode(id=m.member_id, name=m.name, address=m.address, protocol_port=m.protocol_port, weight=m.weight,
                      backup=m.backup, admin_state_up=m.admin_state_up, operating_status=m.operating_status,
                      provisioning_status=m.provisioning_status, down=down)


def _read_tree(conn: Connection, snap: SnapshotInfo, cloud: str, name_or_id: str, limit: int,
               budget: int, mine: ColumnElement[bool]) -> LoadBalancerTree:
    lb = find_lb(conn, cloud, name_or_id, mine)
    lsts = conn.execute(select(listeners).where(live(listeners, cloud), listeners.c.loadbalancer_id == lb.id)
                        .order_by(listeners.c.protocol_port, listeners.c.id)).all()
    pls = conn.execute(select(pools).where(live(pools, cloud), pools.c.loadbalancer_id == lb.id)
                       .order_by(pools.c.name, pools.c.id)).all()
    pool_ids = [p.id for p in pls]
    hms = {h.pool_id: _monitor(h) for h in conn.execute(select(monitors).where(
        live(monitors, cloud), monitors.c.pool_id.in_(pool_ids))).all()} if pool_ids else {}
    mems: dict[str, list[MemberNode]] = {}
    if pool_ids:
        for m in conn.execute(select(members).where(members.c.cloud == cloud, members.c.pool_id.in_(pool_ids))
                              .order_by(members.c.address, members.c.protocol_port, members.c.member_id)).all():
            mems.setdefault(m.pool_id, []).append(_member(m))
    amps_synced = any(k.kind == "lb_amphorae" and k.as_of is not None for k in snap.kinds)
    amps = [AmphoraNode(id=a.id, role=a.role, status=a.status, compute_id=a.compute_id, lb_network_ip=a.lb_network_ip)
            for a in conn.execute(select(amphorae).where(live(amphorae, cloud), amphorae.c.loadbalancer_id == lb.id)
                                  .order_by(amphorae.c.role, amphorae.c.id)).all()] if amps_synced else None
    project_name = project_names(conn, cloud, [lb.project_id]).get(lb.project_id)
    raw = lb.raw if isinstance(lb.raw, dict) else {}
    item = LoadBalancerItem(
        id=lb.id, name=lb.name, provisioning_status=lb.provisioning_status, operating_status=lb.operating_status,
        admin_state_up=lb.admin_state_up, vip_address=lb.vip_address, vip_subnet_id=lb.vip_subnet_id,
        provider=lb.provider, project_id=lb.project_id, project_name=project_name, listeners=len(lsts), pools=len(pls),
        members_down=sum(1 for ms in mems.values() for m in ms if m.down))

    def pool_node(p: Any, cap: int) -> PoolNode:
        ms = sorted(mems.get(p.id, []), key=lambda m: not m.down)  # down first, stable otherwise
        return PoolNode(id=p.id, name=p.name, protocol=p.protocol, lb_algorithm=p.lb_algorithm,
                        provisioning_status=p.provisioning_status, operating_status=p.operating_status,
                        admin_state_up=p.admin_state_up, health_monitor=hms.get(p.id), members_total=len(ms),
                        members_down=sum(1 for m in ms if m.down), members=ms[:cap])

    problems = _problems(lb, lsts, pls, mems, amps)
    by_id = {p.id: p for p in pls}
    default_ids = {lst.default_pool_id for lst in lsts}
    cap = limit
    while True:
        tree = LoadBalancerTree(
            summary=_tree_summary(item, problems), load_balancer=item, description=raw.get("description") or None,
            vip_port_id=lb.vip_port_id, vip_network_id=lb.vip_network_id,
            listeners=[ListenerNode(id=x.id, name=x.name, protocol=x.protocol, protocol_port=x.protocol_port,
                                    provisioning_status=x.provisioning_status, operating_status=x.operating_status,
                                    admin_state_up=x.admin_state_up,
                                    default_pool=pool_node(by_id[x.default_pool_id], cap)
                                    if x.default_pool_id in by_id else None) for x in lsts],
            other_pools=[pool_node(p, cap) for p in pls if p.id not in default_ids], amphorae=amps,
            problems=problems, members_clipped=any(len(v) > cap for v in mems.values()), snapshot=snap)
        if cap <= 1 or json_size(tree.model_dump(mode="json")) <= budget:
            return tree
        cap = max(1, cap // 2)


def _problems(lb: Any, lsts: Sequence[Any], pls: Sequence[Any], mems: dict[str, list[MemberNode]],
              amps: list[AmphoraNode] | None) -> list[str]:
    out = []
    if lb.provisioning_status == "ERROR":
        out.append("Load balancer provisioning_status ERROR: its last change failed (Octavia could not build or "
                   "update it); a failover or delete/recreate is needed.")
    elif str(lb.provisioning_status or "").startswith("PENDING_"):
        out.append(f"Load balancer {lb.provisioning_status}: a change is in progress; it is immutable until it ends.")
    if lb.operating_status in ("ERROR", "DEGRADED", "OFFLINE") and lb.admin_state_up is not False:
        out.append(f"Load balancer operating_status {lb.operating_status}.")
    for x in lsts:
        if x.provisioning_status == "ERROR" or x.operating_status in ("ERROR", "DEGRADED"):
            out.append(f"Listener {x.name or x.id} ({x.protocol}:{x.protocol_port}) {x.provisioning_status}/{x.operating_status}.")
    for p in pls:
        down = [m for m in mems.get(p.id, []) if m.down]
        if p.provisioning_status == "ERROR" or p.operating_status in ("ERROR", "DEGRADED") or down:
            what = f"; {len(down)} of {len(mems.get(p.id, []))} members down: " + ", ".join(
                f"{m.address}:{m.protocol_port} {m.operating_status}" for m in down[:5]) if down else ""
            out.append(f"Pool {p.name or p.id} {p.provisioning_status}/{p.operating_status}{what}.")
    for a in amps or []:
        if a.status == "ERROR":
            out.append(f"Amphora {a.id} ({a.role}) in ERROR (compute {a.compute_id}).")
    return out


def _tree_summary(item: LoadBalancerItem, problems: list[str]) -> str:
    head = (f"Load balancer {item.name or item.id} ({item.id}): {item.provisioning_status}/{item.operating_status}, "
            f"VIP {item.vip_address}, {item.listeners} listener(s), {item.pools} pool(s), "
            f"{item.members_down} member(s) down" + (f", project {item.project_name or item.project_id}." if item.project_id else "."))
    if not problems:
        return head + " No problems."
    return head + f" {len(problems)} problem(s): " + " ".join(problems[:4]) + (" ..." if len(problems) > 4 else "")
