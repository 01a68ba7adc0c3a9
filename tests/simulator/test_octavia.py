"""Octavia v2 simulator, driven through unmodified openstacksdk, and compared with the upstream API
reference's examples (tests/fixtures/octavia/README.md: no live Octavia to record from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions

from tests.simulator.test_fidelity import shape_diff

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "octavia"
# Where the API reference's example disagrees with Octavia's code (octavia/api/v2/types/amphora.py),
# the code wins: the API answers ``loadbalancer_id`` (a boolean ``cert_busy``), the example spells
# ``load_balancer_id`` (and ``0``).
CODE_OVER_EXAMPLE = {
    "amphora": ["amphorae[].load_balancer_id: missing in simulator",
                "amphorae[].loadbalancer_id: not in real response",
                "amphorae[].cert_busy: type real=integer sim=boolean"],
}

# Keys Octavia's response types declare (octavia/api/v2/types/*.py) that an example leaves out.
DECLARED = {"loadbalancers[].vip_sg_ids", "loadbalancer.listeners", "loadbalancer.pools", "loadbalancer.vip_sg_ids",
            "listeners[].connection_limit", "listener.connection_limit"}
# Fields Octavia answers as null (or {}) when unset (a non-TLS listener or pool, no session persistence, no
# monitor address, a STANDALONE amphora): the examples show them set. A copy of each example with them
# unset widens the accepted shape (shape_diff's ``also``).
UNSET = {"allowed_cidrs": None, "tls_versions": None, "tls_ciphers": None, "alpn_protocols": None,
         "hsts_max_age": None, "session_persistence": None, "monitor_port": None, "monitor_address": None,
         "vrrp_id": None, "vrrp_priority": None, "vrrp_ip": None, "vrrp_interface": None, "vrrp_port_id": None,
         "insert_headers": {}}


def unset_variant(body: dict[str, Any]) -> dict[str, Any]:
    def one(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: (UNSET[k] if k in UNSET else v) for k, v in obj.items()}

    return {k: [one(o) for o in v] if isinstance(v, list) else one(v) for k, v in body.items()}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def _get(conn: Any, path: str, **params: Any) -> Any:
    resp = conn.load_balancer.get(path, params=params or None)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _one_of_each(conn: Any) -> dict[str, str]:
    """Ids of a load balancer, listener, HTTP pool with members and an HTTP health monitor."""
    hm = _get(conn, "/lbaas/healthmonitors", type="HTTP")["healthmonitors"][0]
    pool = _get(conn, f"/lbaas/pools/{hm['pools'][0]['id']}")["pool"]
    return {"hm": hm["id"], "pool": pool["id"], "lb": pool["loadbalancers"][0]["id"],
            "listener": pool["listeners"][0]["id"],
            "member": _get(conn, f"/lbaas/pools/{pool['id']}/members")["members"][0]["id"]}


CASES = [
    ("loadbalancers-list-response.json", "/lbaas/loadbalancers", {}),
    ("loadbalancer-show-response.json", "/lbaas/loadbalancers/{lb}", {}),
    ("listeners-list-response.json", "/lbaas/listeners", {"protocol": "HTTP"}),
    ("listener-show-response.json", "/lbaas/listeners/{listener}", {}),
    ("pools-list-response.json", "/lbaas/pools", {"protocol": "HTTP"}),
    ("pool-show-response.json", "/lbaas/pools/{pool}", {}),
    ("members-list-response.json", "/lbaas/pools/{pool}/members", {}),
    ("member-show-response.json", "/lbaas/pools/{pool}/members/{member}", {}),
    ("healthmonitors-list-response.json", "/lbaas/healthmonitors", {"type": "HTTP"}),
    ("healthmonitor-show-response.json", "/lbaas/healthmonitors/{hm}", {}),
    ("amphora-list-response.json", "/octavia/amphorae", {}),
    ("amphora-show-response.json", "/octavia/amphorae/{amphora}", {}),
]


def test_bodies_match_the_api_reference_examples(conn: Any) -> None:
    ids = _one_of_each(conn)
    ids["amphora"] = _get(conn, "/octavia/amphorae")["amphorae"][0]["id"]
    failures = {}
    for name, path, params in CASES:
        real = sample(name)
        got = _get(conn, path.format(**ids), **params)
        if "_links" not in json.dumps(real):  # the examples omit the (empty) links list of a listing
            got = {k: v for k, v in got.items() if not k.endswith("_links")}
        diff = shape_diff(real, got, also=[unset_variant(real)], optional=DECLARED)
        if name.startswith("amphora"):
            allowed = {d.replace("amphorae[].", "amphora.") if "show" in name else d for d in CODE_OVER_EXAMPLE["amphora"]}
            diff = [d for d in diff if d not in allowed]
        if diff:
            failures[name] = diff
    assert failures == {}


def test_pagination_like_octavia(conn: Any, sim: Any) -> None:
    everything = _get(conn, "/lbaas/loadbalancers")
    lbs = everything["loadbalancers"]
    assert len(lbs) == sim.state.count("lb_loadbalancers") >= 4 and everything["loadbalancers_links"] == []
    # newest first (created_at, id descending), as Octavia's default sort
    keys = [(lb["created_at"], lb["id"]) for lb in lbs]
    assert keys == sorted(keys, reverse=True)
    seen, params, pages = [], {"limit": "2"}, 0
    while True:
        page = _get(conn, "/lbaas/loadbalancers", **params)
        pages += 1
        seen += [lb["id"] for lb in page["loadbalancers"]]
        nxt = [lk for lk in page["loadbalancers_links"] if lk["rel"] == "next"]
        if params.get("marker") and page["loadbalancers"]:
            assert any(lk["rel"] == "previous" for lk in page["loadbalancers_links"])
        if not nxt:
            break
        params = dict(p.split("=") for p in nxt[0]["href"].split("?", 1)[1].split("&"))
    assert seen == [lb["id"] for lb in lbs]
    # a full last page still carries a next link (Octavia cannot tell), the page after it is empty
    assert pages == len(lbs) // 2 + 1
    bad = conn.load_balancer.get("/lbaas/loadbalancers", params={"marker": "nope"})
    assert bad.status_code == 400 and "marker" in bad.json()["faultstring"]
    # the SDK follows the links
    assert [lb.id for lb in conn.load_balancer.load_balancers(limit=3)] == [lb["id"] for lb in lbs]


def test_fleet_mix_and_relations(conn: Any) -> None:
    lbs = {lb.name: lb for lb in conn.load_balancer.load_balancers()}
    assert lbs["lb-0001"].operating_status == "DEGRADED"
    assert (lbs["lb-0002"].provisioning_status, lbs["lb-0002"].operating_status) == ("ERROR", "ERROR")
    degraded_pool = conn.load_balancer.get_pool(lbs["lb-0001"].pools[0]["id"])
    members = list(conn.load_balancer.members(degraded_pool))
    assert "ERROR" in {m.operating_status for m in members}
    disabled = [m for p in lbs["lb-0003"].pools for m in conn.load_balancer.members(p["id"])
                if not m.is_admin_state_up]
    assert disabled and disabled[0].operating_status == "OFFLINE"
    for lb in lbs.values():
        for ref in lb.listeners:
            listener = conn.load_balancer.get_listener(ref["id"])
            assert listener.load_balancers == [{"id": lb.id}] and listener.default_pool_id
    amphorae = list(conn.load_balancer.amphorae())
    assert {a.loadbalancer_id for a in amphorae} == {lb.id for lb in lbs.values()}
    assert {a.role for a in amphorae} >= {"MASTER", "BACKUP", "STANDALONE"}


def test_lifecycle_through_the_sdk(conn: Any, sim: Any) -> None:
    sim.freeze()
    net = next(n for n in conn.network.networks() if not n.is_router_external and n.subnet_ids)
    lb = conn.load_balancer.create_load_balancer(name="t-lb", vip_subnet_id=net.subnet_ids[0])
    assert (lb.provisioning_status, lb.operating_status) == ("PENDING_CREATE", "OFFLINE") and lb.vip_address
    with pytest.raises(exceptions.ConflictException):  # immutable while PENDING_CREATE
        conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    sim.advance(sim.transition_seconds + 0.1)
    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "ACTIVE"
    listener = conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    sim.advance(sim.transition_seconds + 0.1)
    pool = conn.load_balancer.create_pool(listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    sim.advance(sim.transition_seconds + 0.1)
    member = conn.load_balancer.create_member(pool, address="10.0.0.99", protocol_port=8080)
    sim.advance(sim.transition_seconds + 0.1)
    assert conn.load_balancer.get_member(member, pool).operating_status == "NO_MONITOR"
    hm = conn.load_balancer.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3)
    sim.advance(sim.transition_seconds + 0.1)
    got = conn.load_balancer.get_load_balancer(lb.id)
    assert got.listeners == [{"id": listener.id}] and got.pools == [{"id": pool.id}]
    assert conn.load_balancer.get_pool(pool.id).health_monitor_id == hm.id
    assert conn.load_balancer.get_listener(listener.id).default_pool_id == pool.id
    with pytest.raises(exceptions.BadRequestException):  # children without cascade
        conn.load_balancer.delete_load_balancer(lb.id)
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    with pytest.raises(exceptions.NotFoundException) as err:
        conn.load_balancer.get_load_balancer(lb.id)
    assert "not found" in str(err.value)
    assert sim.state.get("lb_members", member.id) is None and sim.state.get("lb_healthmonitors", hm.id) is None


def test_project_scope_and_admin_only_amphorae(make_sim: Any) -> None:
    import openstack

    sim = make_sim()
    from app.simulator.keystone import user_roles_on_project

    lb_projects = {x["project_id"]: x for x in sim.state.values("lb_loadbalancers")}
    user = next(u for u in sim.state.values("users") if u.get("default_project_id") in lb_projects
                and "admin" not in {r["name"] for r in user_roles_on_project(sim, u["id"], u["default_project_id"])})
    project = sim.state.get("projects", user["default_project_id"])
    lb = lb_projects[project["id"]]
    kw = {**sim.connect_kwargs(), "username": user["name"], "password": user["_password"],
          "project_name": project["name"]}
    c = openstack.connect(**kw)
    own = {x.id for x in c.load_balancer.load_balancers()}
    assert lb["id"] in own and own == {x["id"] for x in sim.state.values("lb_loadbalancers")
                                      if x["project_id"] == project["id"]}
    with pytest.raises(exceptions.ForbiddenException):
        list(c.load_balancer.amphorae())
    c.close()
