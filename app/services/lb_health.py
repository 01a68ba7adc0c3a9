"""get_cluster_status issues for Octavia (rules ``load_balancers_error`` and ``lb_members_down`` in
:data:`app.services.health.RULES`): load balancers in provisioning ERROR or operating ERROR/DEGRADED,
and pool members down (ERROR/OFFLINE while admin_state_up is true).

Evaluated only for kinds that are facts (synced at least once): a cloud without Octavia in its catalog
(the kinds are ``unavailable``) gets no load-balancer issue, no deduction and no "missing kind"
finding, and its report stays complete. Read outside the cached figures, in the same read as the
report's basis, and kept while these kinds' data versions and sync states hold (``ReportCache.kept``),
so the issues are as fresh as the last write to these kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, func, select

from app.resources.lb_pools import members
from app.resources.lb_pools import table as pools
from app.resources.load_balancers import table as lbs
from app.services.completeness import kind_state
from app.services.health import RULES, Finding, IssueItem
from app.services.load_balancers import lb_problem, member_down
from app.services.models import SnapshotInfo
from app.services.query import live, ordered

if TYPE_CHECKING:
    from app.context import AppContext

KINDS = ("load_balancers", "lb_pools")


def findings_in(app: AppContext, max_evidence: int) -> Callable[[Connection, Mapping[str, int]], list[Finding]]:
    """The load-balancer findings, each with up to ``max_evidence`` items, as a read inside the report's
    basis read (one hop for both: ``ReportCache.serve(also=)``, which hands over the data versions it read)."""
    def read(conn: Connection, versions: Mapping[str, int]) -> list[Finding]:
        snap = app.snapshot_in(conn, KINDS)
        # kept while these kinds' data and sync states hold: the problem rows (load balancers, pools and
        # their members, which are rewritten with their pool) change only with a write to them
        key = ("lb_health", app.cloud_name, max_evidence, tuple(versions.get(k) for k in KINDS),
               tuple((k.kind, k.as_of is not None, kind_state(k)) for k in snap.kinds))
        return list(app.reports.kept(key, lambda: _read(conn, snap, app.cloud_name, max_evidence)))

    return read


def _read(conn: Connection, snap: SnapshotInfo, cloud: str, max_evidence: int) -> list[Finding]:
    facts = {k.kind for k in snap.kinds if k.as_of is not None and kind_state(k) is None}
    out: list[Finding] = []
    if "load_balancers" in facts:
        c = lbs.c
        where = and_(live(lbs, cloud), lb_problem())
        n = conn.execute(select(func.count()).select_from(lbs).where(where)).scalar_one()
        if n:
            rows = conn.execute(select(c.id, c.name, c.provisioning_status, c.operating_status).where(where)
                                .order_by(*ordered(c.name, c.id)).limit(max_evidence)).all()
            out.append(Finding(RULES["load_balancers_error"], "load balancers in ERROR or DEGRADED", int(n),
                               [IssueItem(id=r.id, name=r.name, detail=f"{r.provisioning_status}/{r.operating_status}")
                                for r in rows]))
    if "lb_pools" in facts:
        m, p = members.c, pools.c
        joined = members.join(pools, and_(p.cloud == m.cloud, p.id == m.pool_id))
        where = and_(live(pools, cloud), member_down())
        n = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
        if n:
            lb_name = select(lbs.c.name).where(live(lbs, cloud), lbs.c.id == p.loadbalancer_id).scalar_subquery()
            rows = conn.execute(select(m.member_id, m.address, m.protocol_port, m.operating_status, p.name.label("pool"),
                                       lb_name.label("lb")).select_from(joined).where(where)
                                .order_by(*ordered(m.address, m.member_id)).limit(max_evidence)).all()
            out.append(Finding(RULES["lb_members_down"], "load balancer members down", int(n), [
                IssueItem(id=r.member_id, name=f"{r.address}:{r.protocol_port}",
                          detail=f"{r.operating_status} in pool {r.pool} of {r.lb or '?'}") for r in rows]))
    return out
