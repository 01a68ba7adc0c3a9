"""Neutron v2.0 simulator, driven only through openstacksdk."""

from __future__ import annotations

import time
from typing import Any

import pytest
from openstack import exceptions


def _wait(sim: Any) -> None:
    time.sleep(sim.transition_seconds + 0.1)


def test_networks_listing_filters_and_pagination(sim: Any, conn: Any) -> None:
    nets = list(conn.network.networks())
    assert len(nets) == sim.state.count("networks") >= 3
    public = [n for n in nets if n.is_router_external]
    assert [n.name for n in public] == ["public"]
    assert [n.name for n in conn.network.networks(is_router_external=True)] == ["public"]
    assert {n.id for n in conn.network.networks(name="shared")} == {n.id for n in nets if n.name == "shared"}
    paged = list(conn.network.networks(limit=1))
    assert [n.id for n in paged] == [n.id for n in nets]
    net = nets[-1]
    assert net.project_id and net.subnet_ids and net.provider_network_type == "vxlan"
    subnets = list(conn.network.subnets(network_id=net.id))
    assert subnets and all(s.network_id == net.id for s in subnets)
    assert {s.id for s in subnets} == set(net.subnet_ids)


def test_ports_filters_and_server_addresses(sim: Any, conn: Any) -> None:
    ports = list(conn.network.ports())
    assert len(ports) == sim.state.count("ports")
    assert list(conn.network.ports(limit=7)) == ports or [p.id for p in conn.network.ports(limit=7)] == [
        p.id for p in ports]
    server = next(iter(sim.state.values("servers")))
    mine = list(conn.network.ports(device_id=server["id"]))
    assert len(mine) == 1
    port = mine[0]
    assert port.device_owner.startswith("compute:") and port.mac_address.startswith("fa:16:3e:")
    assert port.security_group_ids and port.fixed_ips[0]["ip_address"]
    by_ip = list(conn.network.ports(fixed_ips=[f"ip_address={port.fixed_ips[0]['ip_address']}"]))
    assert [p.id for p in by_ip] == [port.id]
    dhcp = list(conn.network.ports(device_owner="network:dhcp"))
    assert dhcp and all(p.device_owner == "network:dhcp" for p in dhcp)
    # Nova's view of the same server shows that port's address.
    addrs = conn.compute.get_server(server["id"]).addresses
    flat = [a["addr"] for lst in addrs.values() for a in lst]
    assert port.fixed_ips[0]["ip_address"] in flat


def test_network_subnet_port_lifecycle_and_errors(conn: Any) -> None:
    net = conn.network.create_network(name="lab")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.99.0.0/24", ip_version=4, name="lab-sub")
    assert sub.gateway_ip == "10.99.0.1" and sub.allocation_pools[0]["start"] == "10.99.0.2"
    port = conn.network.create_port(network_id=net.id, name="p1")
    assert port.fixed_ips[0]["subnet_id"] == sub.id and port.status == "DOWN"
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_network(net.id, ignore_missing=False)
    with pytest.raises(exceptions.BadRequestException):
        conn.network.create_subnet(network_id=net.id, cidr="10.99.0.128/25", ip_version=4)
    conn.network.update_port(port, name="renamed")
    assert conn.network.get_port(port.id).name == "renamed"
    conn.network.delete_port(port)
    conn.network.delete_subnet(sub)
    conn.network.delete_network(net)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_network(net.id)
    with pytest.raises(exceptions.ResourceNotFound):
        conn.network.get_port("does-not-exist")


def test_floating_ip_associate_disassociate(sim: Any, conn: Any) -> None:
    public = conn.network.find_network("public")
    fips = list(conn.network.ips())
    assert len(fips) == sim.state.count("floatingips")
    assert any(f.port_id for f in fips) and any(not f.port_id for f in fips)
    assert all(f.status == ("ACTIVE" if f.port_id else "DOWN") for f in fips)
    free = list(conn.network.ips(port_id=""))
    assert free and all(f.port_id is None for f in free)
    assert [f.id for f in conn.network.ips(limit=2)] == [f.id for f in fips]
    # a server port without a floating IP
    used = {f.port_id for f in fips if f.port_id}
    port = next(p for p in conn.network.ports(device_owner="compute:nova") if p.id not in used)
    fip = conn.network.create_ip(floating_network_id=public.id)
    assert fip.status == "DOWN" and fip.port_id is None and fip.floating_ip_address.startswith("172.24.")
    fip = conn.network.update_ip(fip, port_id=port.id)
    assert fip.port_id == port.id and fip.fixed_ip_address == port.fixed_ips[0]["ip_address"] and fip.router_id
    _wait(sim)
    assert conn.network.get_ip(fip.id).status == "ACTIVE"
    addrs = conn.compute.get_server(port.device_id).addresses
    assert any(a["addr"] == fip.floating_ip_address and a["OS-EXT-IPS:type"] == "floating"
               for lst in addrs.values() for a in lst)
    other = conn.network.create_ip(floating_network_id=public.id)
    with pytest.raises(exceptions.ConflictException):
        conn.network.update_ip(other, port_id=port.id)
    fip = conn.network.update_ip(fip, port_id=None)
    assert fip.port_id is None and fip.status == "DOWN" and fip.router_id is None
    conn.network.delete_ip(fip)
    conn.network.delete_ip(other)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_ip(fip.id)
    with pytest.raises(exceptions.BadRequestException):
        conn.network.create_ip(floating_network_id=conn.network.find_network("shared").id)


def test_routers_interfaces_and_gateway(conn: Any) -> None:
    routers = list(conn.network.routers())
    assert routers and all(r.external_gateway_info["network_id"] for r in routers)
    assert any(r.is_ha for r in routers) or len(routers) < 2
    public = conn.network.find_network("public")
    net = conn.network.create_network(name="rnet")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.98.0.0/24", ip_version=4)
    r = conn.network.create_router(name="r1", external_gateway_info={"network_id": public.id})
    assert r.external_gateway_info["external_fixed_ips"][0]["ip_address"].startswith("172.24.")
    out = conn.network.add_interface_to_router(r, subnet_id=sub.id)
    assert out["subnet_id"] == sub.id and out["port_id"]
    iface = conn.network.get_port(out["port_id"])
    assert iface.device_owner == "network:router_interface" and iface.fixed_ips[0]["ip_address"] == "10.98.0.1"
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_router(r)
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_port(iface)
    conn.network.remove_interface_from_router(r, subnet_id=sub.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.remove_interface_from_router(r, subnet_id=sub.id)
    conn.network.delete_router(r)
    conn.network.delete_network(net)


def test_security_groups_and_rules(sim: Any, conn: Any) -> None:
    groups = list(conn.network.security_groups())
    assert len(groups) == sim.state.count("security_groups")
    default = [g for g in groups if g.name == "default"]
    assert default and all(len(g.security_group_rules) == 4 for g in default)
    sg = conn.network.create_security_group(name="app", description="app tier")
    assert {r["direction"] for r in sg.security_group_rules} == {"egress"}
    rule = conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                                                   protocol="tcp", port_range_min=8080, port_range_max=8080,
                                                   remote_ip_prefix="10.0.0.0/8")
    assert rule.port_range_min == 8080 and rule.security_group_id == sg.id
    with pytest.raises(exceptions.ConflictException):
        conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                                                protocol="tcp", port_range_min=8080, port_range_max=8080,
                                                remote_ip_prefix="10.0.0.0/8")
    assert len(list(conn.network.security_group_rules(security_group_id=sg.id))) == 3
    conn.network.delete_security_group_rule(rule)
    conn.network.delete_security_group(sg)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_security_group(sg.id)


def test_agents_one_dead_and_error_body(conn: Any) -> None:
    agents = list(conn.network.agents())
    types = {a.agent_type for a in agents}
    assert {"L3 agent", "DHCP agent", "Open vSwitch agent"} <= types
    assert sum(1 for a in agents if not a.is_alive) == 1
    resp = conn.network.get("/networks/nope")
    assert resp.status_code == 404 and resp.json()["NeutronError"]["type"] == "NotFound"
    assert conn.network.get("/networks", params={"tenant_id": agents[0].id}).json() == {"networks": []}


def test_no_limit_returns_everything_at_scale(make_sim: Any) -> None:
    import openstack

    sim = make_sim(servers=1200)
    conn = openstack.connect(**sim.connect_kwargs())
    body = conn.network.get("/ports", params={"fields": "id"}).json()
    assert len(body["ports"]) == sim.state.count("ports") > 1200 and "ports_links" not in body
    assert all(set(p) == {"id"} for p in body["ports"])
    page = conn.network.get("/ports", params={"limit": 500}).json()
    assert len(page["ports"]) == 500 and page["ports_links"][0]["rel"] == "next"
    fips = list(conn.network.ips())
    assert len(fips) == sim.state.count("floatingips") > 100
    conn.close()
