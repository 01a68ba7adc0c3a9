"""Neutron part of the fleet: external ``public`` network, tenant networks/subnets with DHCP ports,
routers, security groups, agents (one dead) and floating IPs."""

from __future__ import annotations

import random
from typing import Any

from app.simulator.core import SimHTTPError, Simulator, iso, new_id
from app.simulator.neutron import add_port, allocate_ip, idx, new_mac
from app.simulator.neutron_api import new_network, new_subnet
from app.simulator.neutron_l3 import add_interface, associate, new_fip, new_router
from app.simulator.neutron_sg import create_default_sg, new_rule, new_sg

DAY = 86400.0


def _agent_ts(ts: float) -> str:
    return iso(ts).replace("T", " ").rstrip("Z")  # type: ignore[union-attr]


def compute_hosts(sim: Simulator, n: int) -> list[str]:
    hosts = [h.get("hypervisor_hostname") or h.get("service", {}).get("host") for h in sim.state.values("hypervisors")]
    hosts = [h.split(".")[0] for h in hosts if h]
    if not hosts:
        for kind in ("compute_services", "services"):
            hosts = [s["host"] for s in sim.state.values(kind) if s.get("binary") == "nova-compute"]
            if hosts:
                break
    return hosts or [f"compute-{i:03d}" for i in range(1, max(2, n // 25) + 1)]


def _project_ids(sim: Simulator) -> tuple[str, list[str]]:
    projects = list(sim.state.values("projects"))
    admin = next((p["id"] for p in projects if p.get("name") == sim.project_name), None)
    tenants = [p["id"] for p in projects if p.get("name") not in ("service",) and not p.get("is_domain")]
    if admin is None:
        admin = tenants[0] if tenants else new_id()
    return admin, tenants or [admin]


def new_agent(sim: Simulator, rng: random.Random, host: str, agent_type: str, binary: str, topic: str,
              conf: dict[str, Any], t0: float, *, alive: bool = True, az: str | None = None) -> dict[str, Any]:
    return sim.state.add("agents", {
        "id": new_id(rng), "agent_type": agent_type, "binary": binary, "host": host, "topic": topic,
        "admin_state_up": True, "alive": alive, "availability_zone": az, "configurations": conf,
        "created_at": _agent_ts(t0), "started_at": _agent_ts(t0 + 60),
        "heartbeat_timestamp": _agent_ts(sim.now() - (rng.randint(5, 25) if alive else 3 * 3600)),
        "description": None, "resources_synced": None})


def populate_base(sim: Simulator, n: int, rng: random.Random) -> None:
    ix = idx(sim)
    t0 = sim.now() - 390 * DAY
    admin, tenants = _project_ids(sim)

    # External network and the shared tenant network.
    public = new_network(sim, admin, "public", external=True, ts=t0, id=new_id(rng))
    new_subnet(sim, public, "172.24.0.0/16", "public-subnet", enable_dhcp=False, ts=t0)
    ix.public_net = public["id"]
    shared = new_network(sim, admin, "shared", shared=True, ts=t0 + 60, seg=1000, id=new_id(rng))
    shared_sub = new_subnet(sim, shared, "192.168.233.0/24", "shared-subnet", dns=["8.8.8.8"], ts=t0 + 60)
    ix.shared_net = shared["id"]

    # Security groups: default per project, plus a few common extra groups.
    for i, pid in enumerate(tenants):
        create_default_sg(sim, pid, rng, ts=t0 + i * 600)
        if i % 2 == 0:
            web = new_sg(sim, pid, "web", "HTTP/HTTPS from anywhere", rng, ts=t0 + i * 600 + 30)
            ssh = new_sg(sim, pid, "ssh", "SSH from the office", rng, ts=t0 + i * 600 + 40)
            for port in (80, 443):
                new_rule(sim, web, rng, web["created_at"], protocol="tcp", port_range_min=port, port_range_max=port,
                         remote_ip_prefix="0.0.0.0/0")
            new_rule(sim, ssh, rng, ssh["created_at"], protocol="tcp", port_range_min=22, port_range_max=22,
                     remote_ip_prefix="203.0.113.0/24")
            new_rule(sim, ssh, rng, ssh["created_at"], protocol="icmp", remote_ip_prefix="0.0.0.0/0")
            if i % 4 == 0:
                db = new_sg(sim, pid, "db", "PostgreSQL from the web tier", rng, ts=t0 + i * 600 + 50)
                new_rule(sim, db, rng, db["created_at"], protocol="tcp", port_range_min=5432, port_range_max=5432,
                         remote_group_id=web["id"])

    # Tenant networks (~n/50, at least one per project), one /20 subnet each, a DHCP port each.
    n_nets = max(len(tenants), n // 50)
    nets_of: dict[str, list[dict[str, Any]]] = {}
    dhcp_hosts = ["network-1", "network-2"]
    subnets = [(shared, shared_sub)]
    for i in range(n_nets):
        pid = tenants[i % len(tenants)]
        k = len(nets_of.setdefault(pid, []))
        ts = t0 + DAY + i * 1800
        net = new_network(sim, pid, "private" if k == 0 else f"private-{k + 1}", ts=ts, seg=1001 + i,
                          id=new_id(rng))
        cidr = f"10.{(i >> 4) & 255}.{(i & 15) << 4}.0/20"
        sub = new_subnet(sim, net, cidr, f"{net['name']}-subnet", dns=["8.8.8.8", "8.8.4.4"], ts=ts)
        if i % 5 == 0:
            new_subnet(sim, net, f"fd00:{i:x}::/64", f"{net['name']}-ipv6", ts=ts, enable_dhcp=True)
        nets_of[pid].append(net)
        subnets.append((net, sub))
    for j, (net, sub) in enumerate(subnets):
        host = dhcp_hosts[j % 2]
        add_port(sim, {"id": new_id(rng), "network_id": net["id"], "project_id": net["project_id"],
                       "mac_address": new_mac(sim), "device_id": f"dhcp{new_id(rng)}-{net['id']}",
                       "device_owner": "network:dhcp", "_ip": allocate_ip(sim, sub), "_subnet": sub["id"],
                       "security_groups": [], "binding:host_id": host, "created_at": net["created_at"],
                       "updated_at": net["created_at"]})

    # One router per project with a gateway on public and an interface on each of its networks.
    for i, pid in enumerate(tenants):
        nets = nets_of.get(pid, [])
        if pid == admin:
            nets = [shared, *nets]
        if not nets:
            continue
        r = new_router(sim, pid, "router1", ext_net=public, ha=i % 3 == 1, distributed=i % 5 == 2,
                       ts=t0 + DAY + i * 900, rng=rng)
        for net in nets:
            sub = sim.state.get("subnets", net["subnets"][0])
            if sub is not None:
                add_interface(sim, r, sub, rng)

    # Agents: L3/DHCP/metadata on two network nodes, OVS on every compute host; one OVS agent is dead.
    for h in dhcp_hosts:
        new_agent(sim, rng, h, "L3 agent", "neutron-l3-agent", "l3_agent",
                  {"agent_mode": "dvr_snat", "routers": sim.state.count("routers") // 2, "ex_gw_ports": 0,
                   "interfaces": 0, "floating_ips": 0, "interface_driver": "openvswitch",
                   "log_agent_heartbeats": False}, t0, az="nova")
        new_agent(sim, rng, h, "DHCP agent", "neutron-dhcp-agent", "dhcp_agent",
                  {"subnets": len(subnets) // 2, "ports": len(subnets) // 2, "networks": len(subnets) // 2,
                   "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "dhcp_lease_duration": 86400,
                   "log_agent_heartbeats": False, "notifies_port_ready": True}, t0, az="nova")
        new_agent(sim, rng, h, "Metadata agent", "neutron-metadata-agent", "N/A",
                  {"metadata_proxy_socket": "/var/lib/neutron/metadata_proxy", "nova_metadata_host": "controller",
                   "nova_metadata_port": 8775, "log_agent_heartbeats": False}, t0)
    hosts = compute_hosts(sim, n)
    dead = rng.randrange(len(hosts))
    for j, h in enumerate(hosts):
        new_agent(sim, rng, h, "Open vSwitch agent", "neutron-openvswitch-agent", "N/A",
                  {"arp_responder_enabled": True, "bridge_mappings": {"public": "br-ex"}, "datapath_type": "system",
                   "devices": 0, "enable_distributed_routing": True, "integration_bridge": "br-int",
                   "l2_population": True, "tunnel_types": ["vxlan"], "tunneling_ip": f"10.250.{j >> 8}.{j & 255}",
                   "ovs_hybrid_plug": False, "log_agent_heartbeats": False}, t0 + j * 60, alive=j != dead)


def populate_fips(sim: Simulator, n: int, rng: random.Random) -> None:
    ix = idx(sim)
    public = sim.state.get("networks", ix.public_net) if ix.public_net else None
    if public is None:
        return
    t0 = sim.now() - 200 * DAY
    for s in list(sim.state.values("servers")):
        if rng.random() >= 0.10:
            continue
        pids = ix.ports_by_device.get(s["id"])
        if not pids:
            continue
        port = sim.state.get("ports", pids[0])
        if port is None:
            continue
        f = new_fip(sim, port["project_id"], public, rng=rng, ts=t0 + rng.random() * 150 * DAY)
        try:
            associate(sim, f, port, None, schedule=False)
        except SimHTTPError:  # no router on that subnet: keep it as an unassociated address
            pass
    _, tenants = _project_ids(sim)
    for i in range(max(3, n // 200)):
        new_fip(sim, tenants[i % len(tenants)], public, rng=rng, ts=t0 + i * 3600,
                description="reserved" if i % 3 == 0 else "")
