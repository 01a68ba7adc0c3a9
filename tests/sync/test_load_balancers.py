"""Octavia kinds synced from the simulator through unmodified openstacksdk: every kind and the
members link table, a member going down, tombstones, targeted refresh, and a cloud without Octavia."""

from __future__ import annotations

import openstack

from app.sync.freshness import freshness
from tests.sync.helpers import count_rows, query

LB_KINDS = ("load_balancers", "lb_listeners", "lb_pools", "lb_health_monitors", "lb_amphorae")
STATE = {"load_balancers": "lb_loadbalancers", "lb_listeners": "lb_listeners", "lb_pools": "lb_pools",
         "lb_health_monitors": "lb_healthmonitors", "lb_amphorae": "lb_amphorae"}


async def test_every_octavia_kind_and_members(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=60)
    sim.advance(3600)
    st = await make_stack(sim, page_size=3)  # several pages each
    results = await st.service.sync_all(LB_KINDS)
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(LB_KINDS, "succeeded")
    for kind in LB_KINDS:
        assert results[kind].seen == sim.state.count(STATE[kind]) > 0, kind
        assert count_rows(db_url, kind, "deleted_at IS NULL") == results[kind].seen
    assert count_rows(db_url, "lb_members") == sim.state.count("lb_members")
    lbs = {name: (prov, op) for name, prov, op in query(
        db_url, "SELECT name, provisioning_status, operating_status FROM load_balancers")}
    assert lbs["lb-0001"] == ("ACTIVE", "DEGRADED") and lbs["lb-0002"] == ("ERROR", "ERROR")
    # typed columns join up: listener -> LB, pool -> listener and LB, monitor -> pool, amphora -> LB
    orphans = query(db_url, """
        SELECT 'listener', l.id FROM lb_listeners l LEFT JOIN load_balancers b ON b.id = l.loadbalancer_id WHERE b.id IS NULL
        UNION ALL SELECT 'pool', p.id FROM lb_pools p LEFT JOIN lb_listeners l ON l.id = p.listener_id WHERE l.id IS NULL
        UNION ALL SELECT 'monitor', h.id FROM lb_health_monitors h LEFT JOIN lb_pools p ON p.id = h.pool_id WHERE p.id IS NULL
        UNION ALL SELECT 'amphora', a.id FROM lb_amphorae a LEFT JOIN load_balancers b ON b.id = a.loadbalancer_id
                  WHERE b.id IS NULL""")
    assert orphans == []
    down = query(db_url, "SELECT m.address, m.operating_status, m.admin_state_up FROM lb_members m "
                         "WHERE m.operating_status IN ('ERROR', 'OFFLINE') ORDER BY m.operating_status")
    assert [(s, bool(a)) for _, s, a in down] == [("ERROR", True), ("OFFLINE", False)]
    assert query(db_url, "SELECT SUM(member_count) FROM lb_pools")[0][0] == sim.state.count("lb_members")
    # a member's address is an instance's fixed address
    assert query(db_url, "SELECT COUNT(*) FROM lb_members m WHERE m.address NOT IN "
                         "(SELECT ip_address FROM port_fixed_ips)") in ([(sim.state.count("lb_members"),)], [(0,)])


async def test_member_down_then_lb_deleted(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=60)
    sim.advance(3600)
    st = await make_stack(sim)
    await st.service.sync_all(LB_KINDS)
    lb = next(x for x in sim.state.values("lb_loadbalancers") if x["name"] == "lb-0000")
    pool = sim.state.get("lb_pools", lb["pools"][0]["id"])
    member = sim.state.get("lb_members", pool["members"][0]["id"])
    member["operating_status"] = "ERROR"
    pool["operating_status"] = "DEGRADED"
    r = await st.service.full_sync("lb_pools")
    assert (r.status, r.changed) == ("succeeded", 1)
    assert query(db_url, "SELECT operating_status FROM lb_members WHERE member_id = :m", m=member["id"]) == [("ERROR",)]
    # targeted refresh re-reads the pool and its member listing
    member["operating_status"] = "ONLINE"
    await st.service.refresh("lb_pools", [pool["id"]])
    assert query(db_url, "SELECT operating_status FROM lb_members WHERE member_id = :m", m=member["id"]) == [("ONLINE",)]

    n_pools, n_listeners = len(lb["pools"]), len(lb["listeners"])
    conn = openstack.connect(**sim.connect_kwargs())
    conn.load_balancer.delete_load_balancer(lb["id"], cascade=True)
    conn.close()
    results = await st.service.sync_all(LB_KINDS)
    assert results["load_balancers"].tombstoned == 1 and results["lb_pools"].tombstoned == n_pools
    assert results["lb_listeners"].tombstoned == n_listeners
    assert count_rows(db_url, "lb_members", f"pool_id = '{pool['id']}'") == 0


async def test_cloud_without_octavia_is_unavailable_not_failed(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=10)
    sim.disabled_services.add("load-balancer")
    st = await make_stack(sim)
    results = await st.service.sync_all()
    assert {k: results[k].status for k in LB_KINDS} == dict.fromkeys(LB_KINDS, "unavailable")
    assert all(r.ok for k, r in results.items() if k not in LB_KINDS), {
        k: r.error for k, r in results.items() if not r.ok and k not in LB_KINDS}
    fresh = await freshness(st.db, st.settings, LB_KINDS)
    assert set(fresh.unavailable) == set(LB_KINDS)
    assert count_rows(db_url, "load_balancers") == 0
