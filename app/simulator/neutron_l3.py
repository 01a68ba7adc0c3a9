"""Neutron L3: routers (gateway, interfaces, ``ha``/``distributed``) and floating IPs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso, json_body, new_id, read_json
from app.simulator.neutron import (
    add_port, allocate_ip, disassociate_fip, idx, new_mac, pin_nova_addresses, port_fixed_ips, release_ip,
    remove_port,
)
from app.simulator.neutron_api import (
    Spec, body_of, get_or_404, is_admin, list_handler, render_plain, req_project, show_handler, touch,
)


def new_router(sim: Simulator, project_id: str, name: str, *, ext_net: dict[str, Any] | None, ha: bool = False,
               distributed: bool = False, ts: float | None = None, rng: Any = None) -> dict[str, Any]:
    t = iso(ts if ts is not None else sim.now())
    r = {
        "id": new_id(rng), "name": name, "project_id": project_id, "admin_state_up": True, "status": "ACTIVE",
        "external_gateway_info": None, "ha": ha, "distributed": distributed, "routes": [], "description": "",
        "availability_zone_hints": [], "availability_zones": ["nova"], "flavor_id": None,
        "enable_ndp_proxy": None, "tags": [], "created_at": t, "updated_at": t, "revision_number": 3,
    }
    sim.state.add("routers", r)
    if ext_net is not None:
        set_gateway(sim, r, ext_net, rng)
    return r


def set_gateway(sim: Simulator, r: dict[str, Any], ext_net: dict[str, Any], rng: Any = None,
                enable_snat: bool = True) -> None:
    if not ext_net.get("router:external"):
        raise SimHTTPError(400, f"Bad router request: Network {ext_net['id']} is not an external network.")
    sub = sim.state.get("subnets", ext_net["subnets"][0]) if ext_net["subnets"] else None
    if sub is None:
        raise SimHTTPError(400, f"Bad router request: No subnets on external network {ext_net['id']}.")
    ip = allocate_ip(sim, sub)
    add_port(sim, {"id": new_id(rng), "network_id": ext_net["id"], "project_id": "", "mac_address": new_mac(sim),
                   "device_id": r["id"], "device_owner": "network:router_gateway", "_ip": ip, "_subnet": sub["id"],
                   "security_groups": [], "created_at": r["created_at"], "updated_at": r["created_at"],
                   "binding:host_id": "network-1"})
    r["external_gateway_info"] = {"network_id": ext_net["id"], "enable_snat": enable_snat,
                                  "external_fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip}]}


def router_ports(sim: Simulator, router_id: str, owner: str) -> list[dict[str, Any]]:
    out = []
    for pid in idx(sim).ports_by_device.get(router_id, ()):
        p = sim.state.get("ports", pid)
        if p is not None and p.get("device_owner") == owner:
            out.append(p)
    return out


def add_interface(sim: Simulator, r: dict[str, Any], subnet: dict[str, Any], rng: Any = None) -> dict[str, Any]:
    ix = idx(sim)
    for p in router_ports(sim, r["id"], "network:router_interface"):
        if any(f["subnet_id"] == subnet["id"] for f in port_fixed_ips(p)):
            raise SimHTTPError(400, f"Bad router request: Router already has a port on subnet {subnet['id']}.")
    if not subnet.get("gateway_ip"):
        raise SimHTTPError(400, "Bad router request: Subnet for router interface must have a gateway IP.")
    if subnet["id"] in ix.router_by_subnet:
        raise SimHTTPError(409, f"IP address {subnet['gateway_ip']} already allocated in subnet {subnet['id']}")
    port = add_port(sim, {
        "id": new_id(rng), "network_id": subnet["network_id"], "project_id": r["project_id"],
        "mac_address": new_mac(sim), "device_id": r["id"], "device_owner": "network:router_interface",
        "_ip": subnet["gateway_ip"], "_subnet": subnet["id"], "security_groups": [],
        "created_at": iso(sim.now()) if rng is None else r["created_at"], "updated_at": r["created_at"],
        "binding:host_id": "network-1"})
    ix.router_by_subnet[subnet["id"]] = r["id"]
    return port


def _iface_body(r: dict[str, Any], port: dict[str, Any]) -> dict[str, Any]:
    sids = [f["subnet_id"] for f in port_fixed_ips(port)]
    return {"id": r["id"], "tenant_id": r["project_id"], "project_id": r["project_id"], "port_id": port["id"],
            "network_id": port["network_id"], "subnet_id": sids[0] if sids else None, "subnet_ids": sids,
            "tags": []}


def render_fip(sim: Simulator, f: dict[str, Any]) -> dict[str, Any]:
    out = render_plain(sim, f)
    p = sim.state.get("ports", f["port_id"]) if f.get("port_id") else None
    out["port_details"] = None if p is None else {
        "name": p.get("name", ""), "network_id": p["network_id"], "mac_address": p["mac_address"],
        "admin_state_up": p.get("admin_state_up", True), "status": p.get("status", "ACTIVE"),
        "device_id": p.get("device_id", ""), "device_owner": p.get("device_owner", "")}
    return out


def associate(sim: Simulator, f: dict[str, Any], port: dict[str, Any], fixed_ip: str | None,
              schedule: bool = True) -> None:
    ix = idx(sim)
    fixed = port_fixed_ips(port)
    if not fixed:
        raise SimHTTPError(400, f"Bad floatingip request: Port {port['id']} does not have any IPv4 address. "
                                "Unable to associate with a Floating IP.")
    entry = next((x for x in fixed if x["ip_address"] == fixed_ip), None) if fixed_ip else fixed[0]
    if entry is None:
        raise SimHTTPError(400, f"Bad floatingip request: Port {port['id']} does not have fixed ip {fixed_ip}.")
    other = ix.fip_by_port.get(port["id"])
    if other and other != f["id"]:
        raise SimHTTPError(409, f"Cannot associate floating IP {f['floating_ip_address']} ({f['id']}) with port "
                                f"{port['id']} using fixed IP {entry['ip_address']}, as that fixed IP already has "
                                f"a floating IP on external network {f['floating_network_id']}.")
    router_id = ix.router_by_subnet.get(entry["subnet_id"])
    router = sim.state.get("routers", router_id) if router_id else None
    gw = router.get("external_gateway_info") if router else None
    if not gw or gw["network_id"] != f["floating_network_id"]:
        raise SimHTTPError(404, f"External network {f['floating_network_id']} is not reachable from subnet "
                                f"{entry['subnet_id']}.  Therefore, cannot associate Port {port['id']} with a "
                                "Floating IP.")
    pin_nova_addresses(sim, f.get("port_id"), port["id"])
    if f.get("port_id") and f["port_id"] != port["id"]:
        ix.fip_by_port.pop(f["port_id"], None)
    f.update(port_id=port["id"], fixed_ip_address=entry["ip_address"], router_id=router["id"])
    ix.fip_by_port[port["id"]] = f["id"]
    if schedule:
        sim.schedule(f, {"status": "ACTIVE"})
    else:
        f["status"] = "ACTIVE"


def new_fip(sim: Simulator, project_id: str, ext_net: dict[str, Any], *, address: str | None = None,
            rng: Any = None, ts: float | None = None, description: str = "") -> dict[str, Any]:
    if not ext_net.get("router:external"):
        raise SimHTTPError(400, f"Bad floatingip request: Network {ext_net['id']} is not a valid external network.")
    sub = sim.state.get("subnets", ext_net["subnets"][0]) if ext_net["subnets"] else None
    if sub is None:
        raise SimHTTPError(400, f"Bad floatingip request: Network {ext_net['id']} has no subnet.")
    ip = allocate_ip(sim, sub, address)
    t = iso(ts if ts is not None else sim.now())
    f = {"id": new_id(rng), "project_id": project_id, "floating_network_id": ext_net["id"],
         "floating_ip_address": ip, "fixed_ip_address": None, "port_id": None, "router_id": None, "status": "DOWN",
         "description": description, "dns_domain": "", "dns_name": "", "qos_policy_id": None,
         "qos_network_policy_id": None, "port_forwardings": [], "tags": [], "created_at": t, "updated_at": t,
         "revision_number": 0, "_subnet": sub["id"]}
    return sim.state.add("floatingips", f)


def routes(sim: Simulator) -> list[BaseRoute]:
    rspec = Spec("routers", "router", render_plain, "Router")
    fspec = Spec("floatingips", "floatingip", render_fip, "Floating IP")

    def ext_network(nid: str) -> dict[str, Any]:
        net = sim.state.get("networks", nid)
        if net is None:
            raise SimHTTPError(404, f"Network {nid} could not be found.")
        return net

    async def create_router(request: Request) -> Response:
        body = await body_of(request, "router")
        project = req_project(request, body)
        if ("ha" in body or "distributed" in body) and not is_admin(request):
            raise SimHTTPError(403, "(rule:create_router:ha and rule:create_router:distributed) is disallowed by policy")
        gw = body.get("external_gateway_info") or None
        ext = ext_network(gw["network_id"]) if gw and gw.get("network_id") else None
        r = new_router(sim, project, body.get("name", ""), ext_net=None, ha=bool(body.get("ha", False)),
                       distributed=bool(body.get("distributed", False)))
        if ext is not None:
            try:
                set_gateway(sim, r, ext, enable_snat=gw.get("enable_snat", True))
            except SimHTTPError:
                sim.state.remove("routers", r["id"])
                raise
        for k in ("admin_state_up", "description", "availability_zone_hints"):
            if k in body:
                r[k] = body[k]
        return json_body({"router": render_plain(sim, r)}, 201)

    def clear_gateway(r: dict[str, Any]) -> None:
        for f in sim.state.values("floatingips"):
            if f.get("router_id") == r["id"]:
                raise SimHTTPError(409, f"Gateway cannot be updated for router {r['id']}, since a gateway to "
                                        f"external network {f['floating_network_id']} is required by one or more "
                                        "floating IPs.")
        for p in router_ports(sim, r["id"], "network:router_gateway"):
            remove_port(sim, p["id"])
        r["external_gateway_info"] = None

    async def update_router(request: Request) -> Response:
        r = get_or_404(sim, request, rspec, request.path_params["id"])
        body = await body_of(request, "router")
        for k in body:
            if k not in ("name", "admin_state_up", "description", "routes", "external_gateway_info", "ha",
                         "distributed"):
                raise SimHTTPError(400, f"Cannot update read-only attribute {k}")
        if ("ha" in body or "distributed" in body) and r["admin_state_up"] and (
                body.get("ha", r["ha"]) != r["ha"] or body.get("distributed", r["distributed"]) != r["distributed"]):
            raise SimHTTPError(400, "Bad router request: Cannot upgrade active router to distributed or HA. "
                                    "Please set router admin_state_up to False prior to upgrade.")
        if "external_gateway_info" in body:
            gw = body.pop("external_gateway_info") or {}
            cur = r.get("external_gateway_info")
            if not gw.get("network_id"):
                if cur:
                    clear_gateway(r)
            elif not cur or cur["network_id"] != gw["network_id"]:
                ext = ext_network(gw["network_id"])
                if cur:
                    clear_gateway(r)
                set_gateway(sim, r, ext, enable_snat=gw.get("enable_snat", True))
            elif "enable_snat" in gw:
                cur["enable_snat"] = bool(gw["enable_snat"])
        r.update(body)
        touch(sim, r)
        return json_body({"router": render_plain(sim, r)})

    async def delete_router(request: Request) -> Response:
        r = get_or_404(sim, request, rspec, request.path_params["id"])
        if router_ports(sim, r["id"], "network:router_interface"):
            raise SimHTTPError(409, f"Router {r['id']} still has ports")
        clear_gateway(r)
        sim.state.remove("routers", r["id"])
        return Response(status_code=204)

    async def add_router_interface(request: Request) -> Response:
        r = get_or_404(sim, request, rspec, request.path_params["id"])
        body = await read_json(request)
        if bool(body.get("subnet_id")) == bool(body.get("port_id")):
            raise SimHTTPError(400, "Bad router request: Either subnet_id or port_id must be specified.")
        if body.get("subnet_id"):
            sub = sim.state.get("subnets", body["subnet_id"])
            if sub is None:
                raise SimHTTPError(404, f"Subnet {body['subnet_id']} could not be found.")
            port = add_interface(sim, r, sub)
        else:
            port = sim.state.get("ports", body["port_id"])
            if port is None:
                raise SimHTTPError(404, f"Port {body['port_id']} could not be found.")
            if port.get("device_id"):
                raise SimHTTPError(409, f"Port {port['id']} is in use by {port.get('device_owner')}.")
            ix = idx(sim)
            port.update(device_id=r["id"], device_owner="network:router_interface", status="ACTIVE")
            ix.ports_by_device.setdefault(r["id"], []).append(port["id"])
            for f in port_fixed_ips(port):
                ix.router_by_subnet[f["subnet_id"]] = r["id"]
        touch(sim, r)
        return json_body(_iface_body(r, port))

    async def remove_router_interface(request: Request) -> Response:
        r = get_or_404(sim, request, rspec, request.path_params["id"])
        body = await read_json(request)
        ifaces = router_ports(sim, r["id"], "network:router_interface")
        if body.get("port_id"):
            port = next((p for p in ifaces if p["id"] == body["port_id"]), None)
            if port is None:
                raise SimHTTPError(404, f"Router {r['id']} does not have an interface with id {body['port_id']}")
        elif body.get("subnet_id"):
            port = next((p for p in ifaces if any(f["subnet_id"] == body["subnet_id"] for f in port_fixed_ips(p))),
                        None)
            if port is None:
                raise SimHTTPError(404, f"Router {r['id']} has no interface on subnet {body['subnet_id']}")
        else:
            raise SimHTTPError(400, "Bad router request: Either subnet_id or port_id must be specified.")
        sids = {f["subnet_id"] for f in port_fixed_ips(port)}
        for f in sim.state.values("floatingips"):
            if f.get("router_id") == r["id"] and f.get("port_id"):
                p = sim.state.get("ports", f["port_id"])
                if p is not None and any(x["subnet_id"] in sids for x in port_fixed_ips(p)):
                    raise SimHTTPError(409, f"Router interface for subnet {next(iter(sids))} on router {r['id']} "
                                            "cannot be deleted, as it is required by one or more floating IPs.")
        out = _iface_body(r, port)
        ix = idx(sim)
        for sid in sids:
            ix.router_by_subnet.pop(sid, None)
        remove_port(sim, port["id"])
        touch(sim, r)
        return json_body(out)

    async def create_fip(request: Request) -> Response:
        body = await body_of(request, "floatingip")
        nid = body.get("floating_network_id")
        if not nid:
            raise SimHTTPError(400, "Failed to parse request. Required attribute 'floating_network_id' not specified")
        project = req_project(request, body)
        f = new_fip(sim, project, ext_network(nid), address=body.get("floating_ip_address"),
                    description=body.get("description", ""))
        if body.get("port_id"):
            port = sim.state.get("ports", body["port_id"])
            try:
                if port is None:
                    raise SimHTTPError(404, f"Port {body['port_id']} could not be found.")
                associate(sim, f, port, body.get("fixed_ip_address"))
            except SimHTTPError:
                release_ip(sim, f["_subnet"], f["floating_ip_address"])
                sim.state.remove("floatingips", f["id"])
                raise
        return json_body({"floatingip": render_fip(sim, f)}, 201)

    async def update_fip(request: Request) -> Response:
        f = get_or_404(sim, request, fspec, request.path_params["id"])
        body = await body_of(request, "floatingip")
        for k in body:
            if k not in ("port_id", "fixed_ip_address", "description", "qos_policy_id"):
                raise SimHTTPError(400, f"Cannot update read-only attribute {k}")
        if "port_id" in body:
            if body["port_id"]:
                port = sim.state.get("ports", body["port_id"])
                if port is None:
                    raise SimHTTPError(404, f"Port {body['port_id']} could not be found.")
                associate(sim, f, port, body.get("fixed_ip_address"))
            elif f.get("port_id"):
                disassociate_fip(sim, f)
        for k in ("description", "qos_policy_id"):
            if k in body:
                f[k] = body[k]
        touch(sim, f)
        return json_body({"floatingip": render_fip(sim, f)})

    async def delete_fip(request: Request) -> Response:
        f = get_or_404(sim, request, fspec, request.path_params["id"])
        if f.get("port_id"):
            pin_nova_addresses(sim, f["port_id"])
            idx(sim).fip_by_port.pop(f["port_id"], None)
        release_ip(sim, f["_subnet"], f["floating_ip_address"])
        sim.state.remove("floatingips", f["id"])
        return Response(status_code=204)

    return [
        Route("/v2.0/routers", list_handler(sim, rspec), methods=["GET"]),
        Route("/v2.0/routers", create_router, methods=["POST"]),
        Route("/v2.0/routers/{id}", show_handler(sim, rspec, "id"), methods=["GET"]),
        Route("/v2.0/routers/{id}", update_router, methods=["PUT"]),
        Route("/v2.0/routers/{id}", delete_router, methods=["DELETE"]),
        Route("/v2.0/routers/{id}/add_router_interface", add_router_interface, methods=["PUT"]),
        Route("/v2.0/routers/{id}/remove_router_interface", remove_router_interface, methods=["PUT"]),
        Route("/v2.0/floatingips", list_handler(sim, fspec), methods=["GET"]),
        Route("/v2.0/floatingips", create_fip, methods=["POST"]),
        Route("/v2.0/floatingips/{id}", show_handler(sim, fspec, "id"), methods=["GET"]),
        Route("/v2.0/floatingips/{id}", update_fip, methods=["PUT"]),
        Route("/v2.0/floatingips/{id}", delete_fip, methods=["DELETE"]),
    ]
