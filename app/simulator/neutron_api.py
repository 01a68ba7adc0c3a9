"""Neutron v2.0 collection machinery (filters, ``fields``, sorting, ``<collection>_links`` pagination)
and the networks, subnets and agents resources."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso, json_body, new_id, paginate, read_json

RESERVED = {"limit", "marker", "fields", "sort_key", "sort_dir", "page_reverse", "verbose", "tags", "tags-any",
            "not-tags", "not-tags-any"}


@dataclass
class Spec:
    kind: str                      # state kind and collection key (``networks``)
    single: str                    # member key (``network``)
    render: Callable[[Simulator, dict[str, Any]], dict[str, Any]]
    label: str                     # for messages: ``Network``
    defaults: dict[str, Any] = field(default_factory=dict)
    shared_visible: Callable[[dict[str, Any]], bool] | None = None
    special: dict[str, Callable[[dict[str, Any], list[str]], bool]] = field(default_factory=dict)


def render_plain(sim: Simulator, rec: dict[str, Any]) -> dict[str, Any]:
    if rec.get("_pending"):
        sim.settle(rec)
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k[0] == "_":
            continue
        out[k] = list(v) if isinstance(v, list) else (dict(v) if isinstance(v, dict) else v)
    out["tenant_id"] = rec.get("project_id")
    return out


def token(request: Request) -> Any:
    return request.scope.get("state", {}).get("token")


def is_admin(request: Request) -> bool:
    tok = token(request)
    return tok is None or any(r.get("name") == "admin" for r in tok.roles)


def req_project(request: Request, body: dict[str, Any] | None = None) -> str:
    tok = token(request)
    own = (tok.project_id if tok else None) or ""
    if body:
        want = body.get("project_id") or body.get("tenant_id")
        if want and want != own:
            if not is_admin(request):
                raise SimHTTPError(403, "Only admin can create a resource on behalf of another project.")
            return str(want)
    return own


def _match(val: Any, wanted: list[str]) -> bool:
    if isinstance(val, bool):
        s = "true" if val else "false"
        return any(w.lower() in (s, "1" if val else "0") for w in wanted)
    if val is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(val, list):
        vals = {str(x) for x in val}
        return any(w in vals for w in wanted)
    return str(val) in wanted


def field_value(spec: Spec, rec: dict[str, Any], k: str) -> Any:
    if k == "tenant_id":
        return rec.get("project_id")
    if k in rec:
        return rec[k]
    return spec.defaults.get(k)


def visible(request: Request, spec: Spec, rec: dict[str, Any]) -> bool:
    if is_admin(request):
        return True
    tok = token(request)
    if rec.get("project_id") == (tok.project_id if tok else None):
        return True
    return bool(spec.shared_visible and spec.shared_visible(rec))


def list_handler(sim: Simulator, spec: Spec) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        q = request.query_params
        filters: dict[str, list[str]] = {}
        for k, v in q.multi_items():
            if k not in RESERVED:
                filters.setdefault(k, []).append(v)
        tags_all = [t for v in q.getlist("tags") for t in v.split(",") if t]
        tags_any = [t for v in q.getlist("tags-any") for t in v.split(",") if t]
        admin = is_admin(request)
        items = []
        for rec in list(sim.state.values(spec.kind)):
            if rec.get("_pending"):
                sim.settle(rec)
            if not admin and not visible(request, spec, rec):
                continue
            ok = True
            for k, wanted in filters.items():
                fn = spec.special.get(k)
                if not (fn(rec, wanted) if fn else _match(field_value(spec, rec, k), wanted)):
                    ok = False
                    break
            if ok and (tags_all or tags_any):
                tags = set(rec.get("tags") or ())
                ok = all(t in tags for t in tags_all) and (not tags_any or any(t in tags for t in tags_any))
            if ok:
                items.append(rec)
        sort_keys = q.getlist("sort_key")
        if sort_keys:
            dirs = q.getlist("sort_dir")
            for i in reversed(range(len(sort_keys))):
                k = sort_keys[i]
                rev = (dirs[i] if i < len(dirs) else "asc").lower() == "desc"
                items.sort(key=lambda r, k=k: (field_value(spec, r, k) is None, str(field_value(spec, r, k))),
                           reverse=rev)
        # Neutron has no page-size cap by default (pagination_max_limit = -1): no limit, everything.
        page, links = paginate(request, items, spec.kind, max_limit=max(1, len(items)))
        fields = [f for v in q.getlist("fields") for f in v.split(",") if f]
        out = [spec.render(sim, r) for r in page]
        if fields:
            out = [{k: r[k] for k in fields if k in r} for r in out]
        body: dict[str, Any] = {spec.kind: out}
        if q.get("limit") is not None or q.get("marker"):
            if q.get("marker") and page:
                prev = str(request.url.include_query_params(marker=page[0]["id"], page_reverse="True"))
                links.append({"rel": "previous", "href": prev})
            body[spec.kind + "_links"] = links
        return json_body(body)

    return handler


def get_or_404(sim: Simulator, request: Request, spec: Spec, rid: str) -> dict[str, Any]:
    rec = sim.state.get(spec.kind, rid)
    if rec is None or not visible(request, spec, rec):
        raise SimHTTPError(404, f"{spec.label} {rid} could not be found.")
    if rec.get("_pending"):
        sim.settle(rec)
    return rec


def show_handler(sim: Simulator, spec: Spec, param: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        rec = get_or_404(sim, request, spec, request.path_params[param])
        out = spec.render(sim, rec)
        fields = [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]
        if fields:
            out = {k: out[k] for k in fields if k in out}
        return json_body({spec.single: out})

    return handler


async def body_of(request: Request, single: str) -> dict[str, Any]:
    data = await read_json(request)
    body = data.get(single) if isinstance(data, dict) else None
    if not isinstance(body, dict):
        raise SimHTTPError(400, f"Resource body required; expected '{single}'.")
    return body


def touch(sim: Simulator, rec: dict[str, Any]) -> None:
    rec["updated_at"] = iso(sim.now())
    rec["revision_number"] = rec.get("revision_number", 0) + 1


def apply_update(sim: Simulator, rec: dict[str, Any], body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    bad = [k for k in body if k not in allowed]
    if bad:
        raise SimHTTPError(400, f"Cannot update read-only attribute {bad[0]}")
    rec.update(body)
    touch(sim, rec)


# ----------------------------------------------------------------------------------------------
# Networks and subnets


def new_network(sim: Simulator, project_id: str, name: str, *, external: bool = False, shared: bool = False,
                seg: int | None = None, ts: float | None = None, **extra: Any) -> dict[str, Any]:
    t = iso(ts if ts is not None else sim.now())
    rec = {
        "id": new_id(sim.rng), "name": name, "project_id": project_id, "admin_state_up": True, "mtu": 1450 if not external else 1500,
        "status": "ACTIVE", "subnets": [], "shared": shared, "availability_zone_hints": [],
        "availability_zones": ["nova"], "ipv4_address_scope": None, "ipv6_address_scope": None,
        "router:external": external, "description": "", "port_security_enabled": True, "qos_policy_id": None,
        "l2_adjacency": True, "is_default": external, "qinq": False, "vlan_transparent": False, "dns_domain": "", "tags": [],
        "created_at": t, "updated_at": t, "revision_number": 2,
        "provider:network_type": "flat" if external else "vxlan",
        "provider:physical_network": "public" if external else None,
        "provider:segmentation_id": None if external else (seg if seg is not None else 1000 + sim.state.count("networks")),
    }
    rec.update(extra)
    sim.state.add("networks", rec)
    from app.simulator.neutron import idx

    if not external and not shared:
        idx(sim).nets_by_project.setdefault(project_id, []).append(rec["id"])
    return rec


def new_subnet(sim: Simulator, net: dict[str, Any], cidr: str, name: str, *, gateway_ip: Any = "auto",
               pools: list[dict[str, str]] | None = None, enable_dhcp: bool = True,
               dns: list[str] | None = None, ts: float | None = None, project_id: str | None = None) -> dict[str, Any]:
    try:
        cnet = ipaddress.ip_network(cidr, strict=False)
    except ValueError as e:
        raise SimHTTPError(400, f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.") from e
    if gateway_ip == "auto":
        gateway_ip = str(cnet[1])
    if pools is None:
        first = 2 if gateway_ip == str(cnet[1]) else 1
        pools = [{"start": str(cnet[first]), "end": str(cnet[-2] if cnet.version == 4 else cnet[-1])}]
    t = iso(ts if ts is not None else sim.now())
    rec = {
        "id": new_id(sim.rng), "name": name, "network_id": net["id"], "project_id": project_id or net["project_id"],
        "ip_version": cnet.version, "cidr": str(cnet), "gateway_ip": gateway_ip, "allocation_pools": pools,
        "enable_dhcp": enable_dhcp, "dns_nameservers": list(dns or []), "host_routes": [], "service_types": [],
        "ipv6_address_mode": None, "ipv6_ra_mode": None, "subnetpool_id": None, "segment_id": None,
        "description": "", "dns_publish_fixed_ip": False, "tags": [], "created_at": t, "updated_at": t,
        "revision_number": 0,
    }
    sim.state.add("subnets", rec)
    net["subnets"].append(rec["id"])
    from app.simulator.neutron import idx

    if gateway_ip:
        idx(sim).used_ips.setdefault(rec["id"], set()).add(gateway_ip)
    return rec


def _network_routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator.neutron import port_fixed_ips

    nets = Spec("networks", "network", render_plain, "Network",
                shared_visible=lambda r: bool(r.get("shared") or r.get("router:external")))
    def render_subnet(s: Simulator, rec: dict[str, Any]) -> dict[str, Any]:
        out = render_plain(s, rec)
        net = s.state.get("networks", rec["network_id"])
        out["router:external"] = bool(net and net.get("router:external"))
        return out

    subs = Spec("subnets", "subnet", render_subnet, "Subnet",
                shared_visible=lambda r: bool((n := sim.state.get("networks", r["network_id"]))
                                              and (n.get("shared") or n.get("router:external"))))

    async def create_network(request: Request) -> Response:
        body = await body_of(request, "network")
        project = req_project(request, body)
        for k in ("router:external", "shared", "provider:network_type") if not is_admin(request) else ():
            if k in body:
                raise SimHTTPError(403, f"(rule:create_network:{k}) is disallowed by policy")
        extra = {k: body[k] for k in ("admin_state_up", "mtu", "description", "port_security_enabled",
                                      "availability_zone_hints", "provider:physical_network",
                                      "provider:segmentation_id", "dns_domain") if k in body}
        if "provider:network_type" in body:
            extra["provider:network_type"] = body["provider:network_type"]
        rec = new_network(sim, project, body.get("name", ""), external=bool(body.get("router:external")),
                          shared=bool(body.get("shared")), **extra)
        return json_body({"network": render_plain(sim, rec)}, 201)

    async def update_network(request: Request) -> Response:
        rec = get_or_404(sim, request, nets, request.path_params["id"])
        body = await body_of(request, "network")
        apply_update(sim, rec, body, ("name", "admin_state_up", "description", "mtu", "shared", "router:external",
                                      "port_security_enabled", "qos_policy_id", "dns_domain", "is_default"))
        return json_body({"network": render_plain(sim, rec)})

    async def delete_network(request: Request) -> Response:
        rec = get_or_404(sim, request, nets, request.path_params["id"])
        busy = [p for p in sim.state.values("ports")
                if p["network_id"] == rec["id"] and p.get("device_owner") != "network:dhcp"]
        if busy:
            raise SimHTTPError(409, f"Unable to complete operation on network {rec['id']}. "
                                    "There are one or more ports still in use on the network.")
        for pid in [p["id"] for p in sim.state.values("ports") if p["network_id"] == rec["id"]]:
            from app.simulator.neutron import remove_port

            remove_port(sim, pid)
        for sid in rec["subnets"]:
            sim.state.remove("subnets", sid)
        sim.state.remove("networks", rec["id"])
        from app.simulator.neutron import idx

        lst = idx(sim).nets_by_project.get(rec["project_id"])
        if lst and rec["id"] in lst:
            lst.remove(rec["id"])
        return Response(status_code=204)

    async def create_subnet(request: Request) -> Response:
        body = await body_of(request, "subnet")
        if not body.get("network_id"):
            raise SimHTTPError(400, "Failed to parse request. Required attribute 'network_id' not specified")
        net = get_or_404(sim, request, nets, body["network_id"])
        if not body.get("cidr"):
            raise SimHTTPError(400, "Bad subnets request: a subnetpool must be specified in the absence of a cidr.")
        ver = int(body.get("ip_version", 4))
        cnet = ipaddress.ip_network(body["cidr"], strict=False) if _valid_cidr(body["cidr"]) else None
        if cnet is None or cnet.version != ver:
            raise SimHTTPError(400, f"Invalid input for cidr. Reason: '{body['cidr']}' is not a valid IP subnet.")
        for sid in net["subnets"]:
            other = sim.state.get("subnets", sid)
            if other and ipaddress.ip_network(other["cidr"]).overlaps(cnet):
                raise SimHTTPError(400, f"Invalid input for operation: Requested subnet with cidr: {cnet} for "
                                        f"network: {net['id']} overlaps with another subnet.")
        rec = new_subnet(sim, net, str(cnet), body.get("name", ""), gateway_ip=body.get("gateway_ip", "auto"),
                         pools=body.get("allocation_pools"), enable_dhcp=body.get("enable_dhcp", True),
                         dns=body.get("dns_nameservers"), project_id=req_project(request, body))
        touch(sim, net)
        return json_body({"subnet": render_subnet(sim, rec)}, 201)

    async def update_subnet(request: Request) -> Response:
        rec = get_or_404(sim, request, subs, request.path_params["id"])
        body = await body_of(request, "subnet")
        apply_update(sim, rec, body, ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes",
                                      "gateway_ip", "allocation_pools"))
        return json_body({"subnet": render_subnet(sim, rec)})

    async def delete_subnet(request: Request) -> Response:
        rec = get_or_404(sim, request, subs, request.path_params["id"])
        for p in sim.state.values("ports"):
            if p["network_id"] == rec["network_id"] and p.get("device_owner") != "network:dhcp" and any(
                    f["subnet_id"] == rec["id"] for f in port_fixed_ips(p)):
                raise SimHTTPError(409, f"Unable to complete operation on subnet {rec['id']}: One or more ports "
                                        "have an IP allocation from this subnet.")
        sim.state.remove("subnets", rec["id"])
        net = sim.state.get("networks", rec["network_id"])
        if net and rec["id"] in net["subnets"]:
            net["subnets"].remove(rec["id"])
        return Response(status_code=204)

    return [
        Route("/v2.0/networks", list_handler(sim, nets), methods=["GET"]),
        Route("/v2.0/networks", create_network, methods=["POST"]),
        Route("/v2.0/networks/{id}", show_handler(sim, nets, "id"), methods=["GET"]),
        Route("/v2.0/networks/{id}", update_network, methods=["PUT"]),
        Route("/v2.0/networks/{id}", delete_network, methods=["DELETE"]),
        Route("/v2.0/subnets", list_handler(sim, subs), methods=["GET"]),
        Route("/v2.0/subnets", create_subnet, methods=["POST"]),
        Route("/v2.0/subnets/{id}", show_handler(sim, subs, "id"), methods=["GET"]),
        Route("/v2.0/subnets/{id}", update_subnet, methods=["PUT"]),
        Route("/v2.0/subnets/{id}", delete_subnet, methods=["DELETE"]),
    ]


def _valid_cidr(c: str) -> bool:
    try:
        ipaddress.ip_network(c, strict=False)
    except ValueError:
        return False
    return "/" in c


def routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator import neutron_agents, neutron_ports, neutron_sg

    return [*_network_routes(sim), *neutron_ports.routes(sim), *neutron_sg.routes(sim), *neutron_agents.routes(sim)]
