"""Neutron v2.0 simulator: service definition, shared index and the calls Nova makes.

State kinds: ``networks``, ``subnets``, ``ports``, ``routers``, ``floatingips``, ``security_groups``,
``security_group_rules``, ``agents``. Server ports (the bulk of a large fleet) are stored compactly
(varying fields only; constant fields come from :data:`PORT_DEFAULTS` when rendered) and indexed by
device so that :func:`server_addresses` is O(1) per server.

Handlers live in :mod:`app.simulator.neutron_api` (networks, subnets, ports, security groups,
agents) and :mod:`app.simulator.neutron_l3` (routers, floating IPs); the fleet in
:mod:`app.simulator.neutron_fleet`.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from app.simulator.core import ServiceDef, SimHTTPError, Simulator, iso, json_body, new_id

# Fields every port has whose value rarely differs; a stored port only overrides what differs.
PORT_DEFAULTS: dict[str, Any] = {
    "name": "",
    "admin_state_up": True,
    "status": "ACTIVE",
    "allowed_address_pairs": [],
    "extra_dhcp_opts": [],
    "binding:vnic_type": "normal",
    "binding:vif_type": "ovs",
    "binding:profile": {},
    "binding:vif_details": {"connectivity": "l2", "port_filter": True, "ovs_hybrid_plug": False,
                            "datapath_type": "system", "bridge_name": "br-int"},
    "binding:host_id": "",
    "description": "",
    "port_security_enabled": True,
    "dns_name": "",
    "dns_assignment": [],
    "ip_allocation": "immediate",
    "propagate_uplink_status": False,
    "qos_policy_id": None,
    "qos_network_policy_id": None,
    "resource_request": None,
    "tags": [],
    "revision_number": 4,
    "device_owner": "",
    "device_id": "",
    "security_groups": [],
}
PORT_FIELDS = (
    "id", "name", "network_id", "tenant_id", "mac_address", "admin_state_up", "status", "device_id",
    "device_owner", "fixed_ips", "allowed_address_pairs", "extra_dhcp_opts", "security_groups",
    "description", "binding:vnic_type", "binding:profile", "binding:host_id", "binding:vif_type",
    "binding:vif_details", "port_security_enabled", "qos_policy_id", "qos_network_policy_id",
    "resource_request", "ip_allocation", "dns_name", "dns_assignment", "propagate_uplink_status",
    "tags", "created_at", "updated_at", "revision_number", "project_id",
)


class NeutronIndex:
    """Lookups that keep the per-server calls O(1)."""

    def __init__(self) -> None:
        self.ports_by_device: dict[str, list[str]] = {}
        self.fip_by_port: dict[str, str] = {}
        self.nets_by_project: dict[str, list[str]] = {}
        self.default_sg: dict[str, str] = {}
        self.sg_list_by_project: dict[str, list[str]] = {}   # shared ``[default_sg_id]`` lists
        self.next_ip: dict[str, int] = {}                     # subnet id -> next host offset
        self.used_ips: dict[str, set[str]] = {}              # subnet id -> addresses handed out
        self.pools: dict[str, tuple[int, int]] = {}          # subnet id -> (first address, size)
        self.rr: dict[str, int] = {}                          # project -> round-robin counter
        self.shared_net: str | None = None
        self.public_net: str | None = None
        self.router_by_subnet: dict[str, str] = {}          # subnet id -> router with an interface on it
        self.mac_counter = 0
        self.standard_attr = 0                                # Neutron's standard attribute ids (rules show it)


def idx(sim: Simulator) -> NeutronIndex:
    ix = getattr(sim, "_neutron_index", None)
    if ix is None:
        ix = NeutronIndex()
        sim._neutron_index = ix  # type: ignore[attr-defined]
    return ix


def new_mac(sim: Simulator) -> str:
    ix = idx(sim)
    ix.mac_counter += 1
    c = ix.mac_counter
    return "fa:16:3e:%02x:%02x:%02x" % ((c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF)


def allocate_ip(sim: Simulator, subnet: dict[str, Any], wanted: str | None = None) -> str:
    """Next free address of ``subnet`` (or ``wanted`` if free); 409 when exhausted or taken."""
    ix = idx(sim)
    sid = subnet["id"]
    used = ix.used_ips.setdefault(sid, set())
    if wanted:
        if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
            raise SimHTTPError(400, f"IP address {wanted} is not a valid IP for the specified subnet.")
        if wanted in used:
            raise SimHTTPError(409, f"IP address {wanted} already allocated in subnet {sid}")
        used.add(wanted)
        return wanted
    pool = ix.pools.get(sid)
    if pool is None:
        net = ipaddress.ip_network(subnet["cidr"])
        pools = subnet.get("allocation_pools") or [{"start": str(net[2]), "end": str(net[-2])}]
        start = int(ipaddress.ip_address(pools[0]["start"]))
        pool = ix.pools[sid] = (start, int(ipaddress.ip_address(pools[-1]["end"])) - start + 1)
    start, size = pool
    off = ix.next_ip.get(sid, 0)
    for _ in range(size):
        addr = str(ipaddress.ip_address(start + off % size))
        off += 1
        if addr not in used:
            ix.next_ip[sid] = off
            used.add(addr)
            return addr
    raise SimHTTPError(409, f"No more IP addresses available on network {subnet['network_id']}.")


def release_ip(sim: Simulator, subnet_id: str, addr: str) -> None:
    idx(sim).used_ips.get(subnet_id, set()).discard(addr)


def port_fixed_ips(p: dict[str, Any]) -> list[dict[str, str]]:
    if "fixed_ips" in p:
        return p["fixed_ips"]
    if "_ip" in p:
        return [{"subnet_id": p["_subnet"], "ip_address": p["_ip"]}]
    return []


def render_port(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in PORT_FIELDS:
        if k == "fixed_ips":
            out[k] = [dict(f) for f in port_fixed_ips(p)]
        elif k == "tenant_id":
            out[k] = p["project_id"]
        elif k in p:
            v = p[k]
            out[k] = list(v) if isinstance(v, list) else v
        else:
            v = PORT_DEFAULTS.get(k)
            out[k] = v.copy() if isinstance(v, (list, dict)) else v
    if not out.get("updated_at"):
        out["updated_at"] = out.get("created_at")
    return out


def add_port(sim: Simulator, rec: dict[str, Any]) -> dict[str, Any]:
    sim.state.add("ports", rec)
    if rec.get("device_id"):
        idx(sim).ports_by_device.setdefault(rec["device_id"], []).append(rec["id"])
    return rec


def remove_port(sim: Simulator, port_id: str) -> dict[str, Any] | None:
    rec = sim.state.remove("ports", port_id)
    if rec is None:
        return None
    ix = idx(sim)
    dev = rec.get("device_id")
    if dev and dev in ix.ports_by_device:
        lst = ix.ports_by_device[dev]
        if port_id in lst:
            lst.remove(port_id)
        if not lst:
            del ix.ports_by_device[dev]
    for f in port_fixed_ips(rec):
        release_ip(sim, f["subnet_id"], f["ip_address"])
    fip_id = ix.fip_by_port.pop(port_id, None)
    if fip_id:
        fip = sim.state.get("floatingips", fip_id)
        if fip is not None:
            disassociate_fip(sim, fip)
    return rec


def disassociate_fip(sim: Simulator, fip: dict[str, Any]) -> None:
    ix = idx(sim)
    pin_nova_addresses(sim, fip.get("port_id"))
    if fip.get("port_id"):
        ix.fip_by_port.pop(fip["port_id"], None)
    fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN", port_details=None,
               updated_at=iso(sim.now()))
    fip["revision_number"] = fip.get("revision_number", 0) + 1
    fip.pop("_pending", None)


def project_default_sg(sim: Simulator, project_id: str) -> list[str]:
    """The shared ``[default-sg-id]`` list of a project (created on first use, as Neutron does)."""
    ix = idx(sim)
    lst = ix.sg_list_by_project.get(project_id)
    if lst is None:
        from app.simulator.neutron_sg import create_default_sg

        create_default_sg(sim, project_id, random.Random(project_id))
        lst = ix.sg_list_by_project[project_id]
    return lst


def _server_project(server: dict[str, Any]) -> str:
    return server.get("tenant_id") or server.get("project_id") or ""


def attach_server_port(sim: Simulator, server: dict[str, Any], network_id: str | None = None) -> dict[str, Any]:
    """Create a port for ``server`` on ``network_id`` (default: one of its project's networks, else the
    shared network) with a fixed IP, a MAC and the project's default security group."""
    ix = idx(sim)
    project = _server_project(server)
    if network_id is None:
        nets = ix.nets_by_project.get(project)
        if nets:
            n = ix.rr.get(project, 0)
            ix.rr[project] = n + 1
            network_id = nets[n % len(nets)]
        else:
            network_id = ix.shared_net
    net = sim.state.get("networks", network_id) if network_id else None
    if net is None:
        raise SimHTTPError(404, f"Network {network_id} could not be found.")
    subnet = None
    for sid in net["subnets"]:
        subnet = sim.state.get("subnets", sid)
        if subnet is not None and subnet["ip_version"] == 4:
            break
    if subnet is None:
        raise SimHTTPError(400, f"Network {network_id} has no subnet.")
    ts = server.get("created") or iso(sim.now())
    host = server.get("OS-EXT-SRV-ATTR:host") or ""
    rec: dict[str, Any] = {
        "id": new_id(sim.rng), "network_id": network_id, "project_id": project,
        "mac_address": new_mac(sim), "device_id": server["id"],
        "device_owner": "compute:" + (server.get("OS-EXT-AZ:availability_zone") or "nova"),
        "_ip": allocate_ip(sim, subnet), "_subnet": subnet["id"],
        "security_groups": project_default_sg(sim, project), "binding:host_id": host,
        "created_at": ts, "updated_at": ts,
    }
    if not host:
        rec["status"] = "DOWN"
    return add_port(sim, rec)


def detach_server_ports(sim: Simulator, server_id: str) -> None:
    for pid in list(idx(sim).ports_by_device.get(server_id, ())):
        remove_port(sim, pid)


def server_addresses(sim: Simulator, server_id: str) -> dict[str, list[dict[str, Any]]]:
    """A server's addresses as Nova shows them: from its info cache while that lags behind Neutron (see
    :func:`pin_nova_addresses`), else from its ports and floating IPs."""
    server = sim.state.get("servers", server_id)
    pinned = server.get("_addr_cache") if server is not None else None
    if pinned is not None:
        cached, due = pinned
        if sim.hold_network_events or sim.now() < due:
            return copy.deepcopy(cached)
        server.pop("_addr_cache", None)
    return neutron_addresses(sim, server_id)


def pin_nova_addresses(sim: Simulator, *port_ids: str | None) -> None:
    """Call *before* a floating IP change on ``port_ids``: when the simulator models Nova's network info
    cache lag (``sim.hold_network_events`` or ``sim.network_event_delay``), the servers owning those ports
    keep showing their current addresses until the network-changed event is delivered
    (``sim.deliver_network_events()``, or ``network_event_delay`` simulated seconds later). Real Nova
    refreshes a server's cache only when Neutron's event arrives, and that does not move ``updated``."""
    if not (sim.hold_network_events or sim.network_event_delay > 0):
        return
    due = sim.now() + sim.network_event_delay
    for pid in port_ids:
        port = sim.state.get("ports", pid) if pid else None
        if port is None or not str(port.get("device_owner") or "").startswith("compute:"):
            continue
        server = sim.state.get("servers", port.get("device_id") or "")
        if server is None:
            continue
        pinned = server.get("_addr_cache")
        if pinned is None:
            server["_addr_cache"] = (neutron_addresses(sim, server["id"]), due)
        else:
            server["_addr_cache"] = (pinned[0], max(pinned[1], due))


def neutron_addresses(sim: Simulator, server_id: str) -> dict[str, list[dict[str, Any]]]:
    """A server's addresses from Neutron's current port and floating IP state."""
    ix = idx(sim)
    out: dict[str, list[dict[str, Any]]] = {}
    st = sim.state
    for pid in ix.ports_by_device.get(server_id, ()):
        p = st.get("ports", pid)
        if p is None:
            continue
        net = st.get("networks", p["network_id"])
        name = net["name"] if net else p["network_id"]
        mac = p["mac_address"]
        lst = out.setdefault(name, [])
        for f in port_fixed_ips(p):
            lst.append({"version": 6 if ":" in f["ip_address"] else 4, "addr": f["ip_address"],
                        "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac})
        fid = ix.fip_by_port.get(pid)
        if fid:
            fip = st.get("floatingips", fid)
            if fip is not None:
                lst.append({"version": 4, "addr": fip["floating_ip_address"],
                            "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": mac})
    return out


def server_security_groups(sim: Simulator, server_id: str) -> list[dict[str, str]]:
    seen: dict[str, None] = {}
    for pid in idx(sim).ports_by_device.get(server_id, ()):
        p = sim.state.get("ports", pid)
        if p is not None:
            for sg in p.get("security_groups", ()):
                seen.setdefault(sg, None)
    out = []
    for sg_id in seen:
        sg = sim.state.get("security_groups", sg_id)
        if sg is not None:
            out.append({"name": sg["name"]})
    return out


# ----------------------------------------------------------------------------------------------
# Service


async def versions(request: Request) -> Any:
    base = str(request.base_url).rstrip("/") + "/network"
    return json_body({"versions": [{"id": "v2.0", "status": "CURRENT",
                                    "links": [{"rel": "self", "href": base + "/v2.0/"}]}]})


async def v2_root(request: Request) -> Any:
    base = str(request.base_url).rstrip("/") + "/network/v2.0"
    names = ["network", "subnet", "port", "router", "floatingip", "security-group", "security-group-rule",
             "agent", "subnetpool", "network-ip-availability"]
    return json_body({"resources": [
        {"name": n, "collection": n + "s", "links": [{"rel": "self", "href": f"{base}/{n}s"}]} for n in names]})


def _routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator import neutron_api, neutron_l3, quotas

    return [
        Route("/", versions), Route("/v2.0", v2_root), Route("/v2.0/", v2_root),
        *neutron_l3.routes(sim), *neutron_api.routes(sim), *quotas.neutron_routes(sim),
    ]


SERVICE = ServiceDef(type="network", name="neutron", mount="/network", path="/network",
                     routes=_routes, public=(r"/?$",))


def populate_base(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.neutron_fleet import populate_base as _pb

    _pb(sim, n, rng)


def populate_fips(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.neutron_fleet import populate_fips as _pf

    _pf(sim, n, rng)
