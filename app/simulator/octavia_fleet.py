"""Octavia part of the fleet: ``max(4, n // 150)`` load balancers (333 at 50,000 instances), each with
an HTTP listener (every other one a TCP/443 listener too), a pool per listener whose members are
instances of the load balancer's project (their fixed addresses), a health monitor on most pools, and
one amphora (STANDALONE) or two (MASTER/BACKUP). The mix the monitoring tools must find: one
DEGRADED load balancer (a member in ERROR), one in provisioning ERROR, and one member disabled by its
operator (OFFLINE with admin_state_up false: not a problem)."""

from __future__ import annotations

import random
from typing import Any

from app.simulator.core import Simulator, iso, new_id
from app.simulator.neutron import allocate_ip, idx, port_fixed_ips
from app.simulator.octavia import LISTENER_DEFAULTS, POOL_DEFAULTS, new_loadbalancer

DAY = 86400.0
DEGRADED, FAILED, DISABLED_MEMBER = 1, 2, 3


def _project_members(sim: Simulator, per_project: int = 8) -> dict[str, list[tuple[str, str]]]:
    """project -> up to ``per_project`` (address, subnet id) of its ACTIVE instances' fixed IPv4 addresses."""
    ix = idx(sim)
    out: dict[str, list[tuple[str, str]]] = {}
    for s in sim.state.values("servers"):
        project = s.get("tenant_id") or ""
        lst = out.setdefault(project, [])
        if len(lst) >= per_project or s.get("status") != "ACTIVE":
            continue
        for pid in ix.ports_by_device.get(s["id"], ())[:1]:
            port = sim.state.get("ports", pid)
            fixed = port_fixed_ips(port) if port else []
            if fixed and ":" not in fixed[0]["ip_address"]:
                lst.append((fixed[0]["ip_address"], fixed[0]["subnet_id"]))
    return {p: m for p, m in out.items() if len(m) >= 2}


def _common(rng: random.Random, project: str, name: str, ts: float, status: str = "ONLINE",
            description: bool = True) -> dict[str, Any]:
    return {"id": new_id(rng), "name": name, **({"description": ""} if description else {}), "admin_state_up": True,
            "provisioning_status": "ACTIVE", "operating_status": status, "project_id": project,
            "created_at": iso(ts), "updated_at": iso(ts + 120), "tags": []}


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    candidates = _project_members(sim)
    if not candidates:
        return
    projects = sorted(candidates)
    st = sim.state
    for i in range(max(4, n // 150)):
        project = projects[i % len(projects)]
        members = candidates[project]
        ts = sim.now() - rng.uniform(1, 300) * DAY
        subnet = st.get("subnets", members[0][1])
        if subnet is None:
            continue
        vip = {"vip_address": allocate_ip(sim, subnet), "vip_port_id": new_id(rng), "vip_subnet_id": subnet["id"],
               "vip_network_id": subnet["network_id"], "vip_qos_policy_id": None, "additional_vips": [],
               "vip_vnic_type": "normal", "vip_sg_ids": []}
        lb = new_loadbalancer(sim, _common(rng, project, f"lb-{i:04d}", ts), vip)
        if i == FAILED:
            lb.update(provisioning_status="ERROR", operating_status="ERROR")
        ports = [("HTTP", 80)] + ([("TCP", 443)] if i % 2 == 0 else [])
        for proto, port in ports:
            _listener_with_pool(sim, rng, lb, proto, port, members, ts, i)
        roles = ["MASTER", "BACKUP"] if i % 3 == 0 else ["STANDALONE"]
        for r, role in enumerate(roles):
            st.add("lb_amphorae", {
                "id": new_id(rng), "loadbalancer_id": lb["id"], "compute_id": new_id(rng),
                "lb_network_ip": f"192.168.{(i // 250) % 256}.{(i % 250) + 2 + r}", "vrrp_ip": None, "ha_ip": lb["vip_address"],
                "vrrp_port_id": None, "ha_port_id": lb["vip_port_id"], "cert_expiration": iso(ts + 730 * DAY),
                "cert_busy": False, "role": role, "status": "ERROR" if i == FAILED else "ALLOCATED",
                "vrrp_interface": "eth1" if len(roles) > 1 else None, "vrrp_id": 1 if len(roles) > 1 else None,
                "vrrp_priority": (100 if role == "MASTER" else 90) if len(roles) > 1 else None,
                "cached_zone": "nova", "created_at": iso(ts), "updated_at": iso(ts + 120),
                "image_id": new_id(random.Random("amphora-image")), "compute_flavor": new_id(random.Random("amphora-flavor")),
            })


def _listener_with_pool(sim: Simulator, rng: random.Random, lb: dict[str, Any], proto: str, port: int,
                        members: list[tuple[str, str]], ts: float, i: int) -> None:
    st = sim.state
    project = lb["project_id"]
    listener = st.add("lb_listeners", {
        **_common(rng, project, f"{lb['name']}-{proto.lower()}-{port}", ts), **LISTENER_DEFAULTS, "protocol": proto,
        "protocol_port": port, "loadbalancers": [{"id": lb["id"]}],
        "insert_headers": {"X-Forwarded-For": "true", "X-Forwarded-Port": "true"} if proto == "HTTP" else {}})
    lb["listeners"].append({"id": listener["id"]})
    monitored = i % 5 != 4
    pool = st.add("lb_pools", {
        **_common(rng, project, f"{listener['name']}-pool", ts, "ONLINE" if monitored else "NO_MONITOR"),
        **POOL_DEFAULTS, "protocol": proto, "lb_algorithm": "ROUND_ROBIN", "loadbalancers": [{"id": lb["id"]}],
        "listeners": [{"id": listener["id"]}], "members": []})
    listener["default_pool_id"] = pool["id"]
    lb["pools"].append({"id": pool["id"]})
    chosen = rng.sample(members, min(len(members), rng.randint(2, 4)))
    for k, (address, subnet_id) in enumerate(chosen):
        m = st.add("lb_members", {
            **_common(rng, project, f"{pool['name']}-m{k}", ts, "ONLINE" if monitored else "NO_MONITOR", False),
            "address": address, "protocol_port": 8080 if proto == "HTTP" else port, "weight": 1, "backup": False,
            "subnet_id": subnet_id, "monitor_address": None, "monitor_port": None, "vnic_type": "normal",
            "_pool": pool["id"]})
        pool["members"].append({"id": m["id"]})
        if k == 0 and proto == "HTTP" and i == DEGRADED:
            m["operating_status"] = "ERROR"
            for rec in (pool, listener, lb):
                rec["operating_status"] = "DEGRADED"
        if k == 0 and proto == "HTTP" and i == DISABLED_MEMBER:
            m.update(admin_state_up=False, operating_status="OFFLINE")
    if monitored:
        http = proto == "HTTP"
        hm = st.add("lb_healthmonitors", {
            **_common(rng, project, f"{pool['name']}-hm", ts, description=False), "type": proto, "delay": 5, "timeout": 3,
            "max_retries": 3, "max_retries_down": 3, "pools": [{"id": pool["id"]}],
            "http_method": "GET" if http else None, "url_path": "/healthz" if http else None,
            "expected_codes": "200" if http else None, "http_version": 1.1 if http else None, "domain_name": None})
        pool["healthmonitor_id"] = hm["id"]
    if i == FAILED:
        for rec in [listener, pool]:
            rec["operating_status"] = "ERROR"
