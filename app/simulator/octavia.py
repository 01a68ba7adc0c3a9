"""Octavia v2 simulator (catalog type ``load-balancer``, mounted at ``/load-balancer``): load balancers,
listeners, pools, members (per pool), health monitors and amphorae (admin only), served under both
``/v2`` (openstacksdk's version discovery) and ``/v2.0`` (python-octaviaclient's fixed suffix).

Follows the upstream API reference and Octavia's own code where the reference is silent: every list
is sorted by ``created_at`` then ``id``, newest first; ``limit``/``marker`` pagination with
``<collection>_links`` where ``next`` appears whenever a page is full (so the last page may be empty)
and ``previous`` whenever a marker was given; filters on any top-level field; ``fields``; an admin
sees every project, anyone else their own project; errors in WSME's shape (``faultstring``).

State kinds ``lb_loadbalancers``, ``lb_listeners``, ``lb_pools``, ``lb_members``,
``lb_healthmonitors``, ``lb_amphorae``: API-shaped records whose id-reference lists (``listeners``,
``pools``, ``members``, ...) are kept up to date on create and delete. Creates go through
PENDING_CREATE (the parent load balancer through PENDING_UPDATE) to ACTIVE after
``transition_seconds``; deletes are immediate (a load balancer with children needs ``cascade=true``).
Simplification: the VIP address is allocated on the subnet but no Neutron port is created for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import ServiceDef, SimHTTPError, Simulator, iso, json_body, new_id, public, read_json

MAX_LIMIT = 1000  # Octavia's default pagination_max_limit
PAGING = frozenset({"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"})
ADMIN_ROLES = frozenset({"admin"})
# collection -> (state kind, resource key, display name in errors)
KINDS = {
    "loadbalancers": ("lb_loadbalancers", "loadbalancer", "Load Balancer"),
    "listeners": ("lb_listeners", "listener", "Listener"),
    "pools": ("lb_pools", "pool", "Pool"),
    "members": ("lb_members", "member", "Member"),
    "healthmonitors": ("lb_healthmonitors", "healthmonitor", "Health Monitor"),
    "amphorae": ("lb_amphorae", "amphora", "Amphora"),
}
# Fields of a listener / pool without TLS, as Octavia answers them (octavia/api/v2/types/).
LISTENER_DEFAULTS: dict[str, Any] = {
    "connection_limit": -1, "l7policies": [], "insert_headers": {}, "timeout_client_data": 50000,
    "timeout_member_connect": 5000, "timeout_member_data": 50000, "timeout_tcp_inspect": 0, "allowed_cidrs": None,
    "default_tls_container_ref": None, "sni_container_refs": [], "client_authentication": "NONE",
    "client_ca_tls_container_ref": None, "client_crl_container_ref": None, "tls_ciphers": None, "tls_versions": None,
    "alpn_protocols": None, "hsts_max_age": None, "hsts_include_subdomains": False, "hsts_preload": False,
}
POOL_DEFAULTS: dict[str, Any] = {
    "session_persistence": None, "members": [], "healthmonitor_id": None, "tls_enabled": False,
    "tls_container_ref": None, "ca_tls_container_ref": None, "crl_container_ref": None, "tls_ciphers": None,
    "tls_versions": None, "alpn_protocols": None,
}
NO_DESCRIPTION = ("members", "healthmonitors")  # their API objects have no description


def _token(request: Request) -> Any:
    return request.scope.get("state", {}).get("token")


def is_admin(request: Request) -> bool:
    tok = _token(request)
    return tok is None or any(r.get("name") in ADMIN_ROLES for r in tok.roles)


def visible(request: Request, rec: dict[str, Any]) -> bool:
    tok = _token(request)
    return is_admin(request) or (tok is not None and rec.get("project_id") == tok.project_id)


def settled(sim: Simulator, rec: dict[str, Any]) -> dict[str, Any]:
    return sim.settle(rec) if rec.get("_pending") else rec


def get_or_404(sim: Simulator, request: Request, coll: str, rid: str) -> dict[str, Any]:
    kind, _, label = KINDS[coll]
    rec = sim.state.get(kind, rid)
    if rec is None or not visible(request, rec):
        raise SimHTTPError(404, f"{label} {rid} not found.")
    return settled(sim, rec)


def _match(rec: dict[str, Any], key: str, values: list[str]) -> bool:
    v = rec.get(key)
    if isinstance(v, bool):
        return str(v).lower() in {x.lower() for x in values}
    return v is not None and str(v) in values


def list_page(request: Request, records: list[dict[str, Any]], coll: str) -> Response:
    """Filter, sort (created_at, id: newest first), page and render like Octavia's PaginationHelper."""
    q = request.query_params
    filters = {k: q.getlist(k) for k in q.keys() if k not in PAGING}
    rows = [r for r in records if visible(request, r) and all(_match(r, k, v) for k, v in filters.items())]
    rows.sort(key=lambda r: (r.get("created_at") or "", r["id"]), reverse=True)
    try:
        limit = int(q.get("limit", MAX_LIMIT))
    except ValueError as e:
        raise SimHTTPError(400, f"Supplied pagination limit '{q.get('limit')}' is not valid.") from e
    limit = MAX_LIMIT if limit < 1 else min(limit, MAX_LIMIT)
    start = 0
    marker = q.get("marker")
    if marker:
        pos = next((i for i, r in enumerate(rows) if r["id"] == marker), None)
        if pos is None:
            raise SimHTTPError(400, f"Supplied pagination marker '{marker}' is not valid.")
        start = pos + 1
    page = rows[start:start + limit]
    links = []
    path_url = str(request.url.replace(query=""))
    if page:
        if marker:
            links.append({"rel": "previous",
                          "href": f"{path_url}?{urlencode({'limit': limit, 'marker': page[0]['id'], 'page_reverse': 'True'})}"})
        if len(page) >= limit:
            links.append({"rel": "next", "href": f"{path_url}?{urlencode({'limit': limit, 'marker': page[-1]['id']})}"})
    fields = q.getlist("fields")
    out = [{k: v for k, v in public(r).items() if not fields or k in fields} for r in page]
    return json_body({coll: out, f"{coll}_links": links})


def _lb_of(sim: Simulator, rec: dict[str, Any]) -> dict[str, Any] | None:
    lbs = rec.get("loadbalancers") or []
    return sim.state.get("lb_loadbalancers", lbs[0]["id"]) if lbs else None


def lock_lb(sim: Simulator, lb: dict[str, Any] | None) -> None:
    """A change under ``lb``: refused while it is PENDING_*, else PENDING_UPDATE until the change is done."""
    if lb is None:
        return
    settled(sim, lb)
    if str(lb["provisioning_status"]).startswith("PENDING_"):
        raise SimHTTPError(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.")
    lb["provisioning_status"] = "PENDING_UPDATE"
    sim.schedule(lb, {"provisioning_status": "ACTIVE"})


def _base(sim: Simulator, request: Request, body: dict[str, Any], project_id: str | None = None) -> dict[str, Any]:
    tok = _token(request)
    now = iso(sim.now())
    return {
        "id": new_id(), "name": body.get("name") or "", "description": body.get("description") or "",
        "admin_state_up": body.get("admin_state_up", True), "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "project_id": project_id or body.get("project_id") or (tok.project_id if tok else None),
        "created_at": now, "updated_at": None, "tags": list(body.get("tags") or []),
    }


def _ref_add(rec: dict[str, Any] | None, key: str, rid: str) -> None:
    if rec is not None:
        rec.setdefault(key, []).append({"id": rid})


def _ref_drop(sim: Simulator, kind: str, ids: list[dict[str, Any]], key: str, rid: str) -> None:
    for ref in ids:
        rec = sim.state.get(kind, ref["id"])
        if rec is not None:
            rec[key] = [r for r in rec.get(key, []) if r["id"] != rid]


def _required(body: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if body.get(k) in (None, "")]
    if missing:
        raise SimHTTPError(400, f"Invalid input for field/attribute {missing[0]}. Value: 'None'. Mandatory field missing.")


def vip_for(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    """VIP fields from vip_subnet_id (or the first IPv4 subnet of vip_network_id), with an address."""
    from app.simulator.neutron import allocate_ip

    subnet = sim.state.get("subnets", body.get("vip_subnet_id") or "")
    if subnet is None and body.get("vip_network_id"):
        net = sim.state.get("networks", body["vip_network_id"])
        if net is None:
            raise SimHTTPError(400, f"Validation failure: Network {body['vip_network_id']} could not be found.")
        subnet = next((s for s in (sim.state.get("subnets", i) for i in net.get("subnets", [])) if s and s["ip_version"] == 4), None)
    if subnet is None:
        raise SimHTTPError(400, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    address = allocate_ip(sim, subnet, body.get("vip_address"))
    return {"vip_address": address, "vip_port_id": new_id(), "vip_subnet_id": subnet["id"],
            "vip_network_id": subnet["network_id"], "vip_qos_policy_id": None, "additional_vips": [],
            "vip_vnic_type": "normal", "vip_sg_ids": []}


def new_loadbalancer(sim: Simulator, base: dict[str, Any], vip: dict[str, Any], **extra: Any) -> dict[str, Any]:
    lb = {**base, **vip, "provider": "amphora", "flavor_id": None, "availability_zone": None,
          "listeners": [], "pools": [], **extra}
    return sim.state.add("lb_loadbalancers", lb)


def create(sim: Simulator, request: Request, coll: str, body: dict[str, Any], pool_id: str | None = None) -> dict[str, Any]:
    """POST of one object: validated, linked to its parents, PENDING_CREATE until settled."""
    st = sim.state
    online = "ONLINE"
    if coll == "loadbalancers":
        rec = new_loadbalancer(sim, _base(sim, request, body), vip_for(sim, body))
        sim.schedule(rec, {"provisioning_status": "ACTIVE", "operating_status": "ONLINE"})
        return rec
    if coll == "listeners":
        _required(body, "loadbalancer_id", "protocol", "protocol_port")
        lb = get_or_404(sim, request, "loadbalancers", body["loadbalancer_id"])
        lock_lb(sim, lb)
        rec = {**_base(sim, request, body, lb["project_id"]), **LISTENER_DEFAULTS, "protocol": body["protocol"],
               "protocol_port": int(body["protocol_port"]), "connection_limit": body.get("connection_limit", -1),
               "default_pool_id": body.get("default_pool_id"), "loadbalancers": [{"id": lb["id"]}],
               "insert_headers": body.get("insert_headers") or {}, "allowed_cidrs": body.get("allowed_cidrs")}
        _ref_add(lb, "listeners", rec["id"])
    elif coll == "pools":
        _required(body, "protocol", "lb_algorithm")
        listener = get_or_404(sim, request, "listeners", body["listener_id"]) if body.get("listener_id") else None
        lb_id = body.get("loadbalancer_id") or (listener["loadbalancers"][0]["id"] if listener else None)
        if lb_id is None:
            raise SimHTTPError(400, "Validation failure: Either listener_id or loadbalancer_id must be specified.")
        lb = get_or_404(sim, request, "loadbalancers", lb_id)
        lock_lb(sim, lb)
        rec = {**_base(sim, request, body, lb["project_id"]), **POOL_DEFAULTS, "protocol": body["protocol"],
               "lb_algorithm": body["lb_algorithm"], "session_persistence": body.get("session_persistence"),
               "loadbalancers": [{"id": lb["id"]}], "listeners": [{"id": listener["id"]}] if listener else [],
               "members": []}
        _ref_add(lb, "pools", rec["id"])
        if listener is not None:
            listener["default_pool_id"] = rec["id"]
    elif coll == "members":
        _required(body, "address", "protocol_port")
        pool = get_or_404(sim, request, "pools", pool_id or "")
        lock_lb(sim, _lb_of(sim, pool))
        rec = {**_base(sim, request, body, pool["project_id"]), "address": body["address"],
               "protocol_port": int(body["protocol_port"]), "weight": int(body.get("weight", 1)),
               "backup": bool(body.get("backup", False)), "subnet_id": body.get("subnet_id"),
               "monitor_address": body.get("monitor_address"), "monitor_port": body.get("monitor_port"),
               "vnic_type": "normal", "_pool": pool["id"]}
        _ref_add(pool, "members", rec["id"])
        online = "ONLINE" if pool.get("healthmonitor_id") else "NO_MONITOR"
    elif coll == "healthmonitors":
        _required(body, "pool_id", "type", "delay", "timeout", "max_retries")
        pool = get_or_404(sim, request, "pools", body["pool_id"])
        if pool.get("healthmonitor_id"):
            raise SimHTTPError(409, "This pool already has a health monitor")
        lock_lb(sim, _lb_of(sim, pool))
        http = body["type"] in ("HTTP", "HTTPS")
        rec = {**_base(sim, request, body, pool["project_id"]), "type": body["type"], "delay": int(body["delay"]),
               "timeout": int(body["timeout"]), "max_retries": int(body["max_retries"]),
               "max_retries_down": int(body.get("max_retries_down", 3)), "pools": [{"id": pool["id"]}],
               "http_method": body.get("http_method", "GET") if http else None,
               "url_path": body.get("url_path", "/") if http else None,
               "expected_codes": body.get("expected_codes", "200") if http else None,
               "http_version": body.get("http_version", 1.0) if http else None, "domain_name": None}
        pool["healthmonitor_id"] = rec["id"]
    else:
        raise SimHTTPError(405, "Method not allowed.")
    if coll in NO_DESCRIPTION:
        rec.pop("description", None)
    st.add(KINDS[coll][0], rec)
    sim.schedule(rec, {"provisioning_status": "ACTIVE", "operating_status": online})
    return rec


def delete(sim: Simulator, request: Request, coll: str, rec: dict[str, Any]) -> None:
    """DELETE of one object (a load balancer's children only with ``cascade=true``)."""
    st = sim.state
    if coll == "loadbalancers":
        if str(rec["provisioning_status"]).startswith("PENDING_"):
            raise SimHTTPError(409, f"Invalid state {rec['provisioning_status']} of loadbalancer resource {rec['id']}")
        if (rec["listeners"] or rec["pools"]) and request.query_params.get("cascade", "").lower() != "true":
            raise SimHTTPError(400, f"Cannot delete Load Balancer {rec['id']} - it has children")
        for ref in list(rec["pools"]):
            _unlink(sim, "pools", st.get("lb_pools", ref["id"]))
        for ref in list(rec["listeners"]):
            _unlink(sim, "listeners", st.get("lb_listeners", ref["id"]))
        for amp in [a for a in st.values("lb_amphorae") if a.get("loadbalancer_id") == rec["id"]]:
            st.remove("lb_amphorae", amp["id"])
        st.remove("lb_loadbalancers", rec["id"])
        return
    pool = st.get("lb_pools", rec["_pool"]) if coll == "members" else None
    lock_lb(sim, _lb_of(sim, pool if pool is not None else rec) if coll in ("members", "listeners", "pools")
            else _lb_of(sim, st.get("lb_pools", rec["pools"][0]["id"]) or {}))
    _unlink(sim, coll, rec)


def _unlink(sim: Simulator, coll: str, rec: dict[str, Any] | None) -> None:
    """Remove ``rec`` and every reference to it (a pool takes its members and health monitor along)."""
    if rec is None:
        return
    st, rid = sim.state, rec["id"]
    if coll == "listeners":
        _ref_drop(sim, "lb_loadbalancers", rec["loadbalancers"], "listeners", rid)
        _ref_drop(sim, "lb_pools", [{"id": p["id"]} for p in st.values("lb_pools")], "listeners", rid)
    elif coll == "pools":
        for ref in rec["members"]:
            st.remove("lb_members", ref["id"])
        if rec.get("healthmonitor_id"):
            st.remove("lb_healthmonitors", rec["healthmonitor_id"])
        _ref_drop(sim, "lb_loadbalancers", rec["loadbalancers"], "pools", rid)
        for lst in st.values("lb_listeners"):
            if lst.get("default_pool_id") == rid:
                lst["default_pool_id"] = None
    elif coll == "members":
        _ref_drop(sim, "lb_pools", [{"id": rec["_pool"]}], "members", rid)
    elif coll == "healthmonitors":
        for ref in rec["pools"]:
            pool = st.get("lb_pools", ref["id"])
            if pool is not None:
                pool["healthmonitor_id"] = None
    st.remove(KINDS[coll][0], rid)


def routes(sim: Simulator) -> list[BaseRoute]:
    def collection(coll: str, prefix: str) -> list[BaseRoute]:
        kind, key, _ = KINDS[coll]

        async def index(request: Request) -> Response:
            if coll == "amphorae" and not is_admin(request):
                raise SimHTTPError(403, "Policy does not allow this request to be performed.")
            if request.method == "POST":
                body = (await read_json(request)).get(key)
                if not isinstance(body, dict):
                    raise SimHTTPError(400, f"Invalid input: a '{key}' object is required.")
                with sim.state.lock:
                    rec = create(sim, request, coll, body, request.path_params.get("pool_id"))
                return json_body({key: public(rec)}, status=201)
            records = list(sim.state.values(kind))
            if coll == "members":
                pool = get_or_404(sim, request, "pools", request.path_params["pool_id"])
                records = [r for r in records if r["_pool"] == pool["id"]]
            return list_page(request, [settled(sim, r) for r in records], coll)

        async def one(request: Request) -> Response:
            if coll == "amphorae" and not is_admin(request):
                raise SimHTTPError(403, "Policy does not allow this request to be performed.")
            rec = get_or_404(sim, request, coll, request.path_params["rid"])
            if coll == "members" and rec["_pool"] != request.path_params["pool_id"]:
                raise SimHTTPError(404, f"Member {rec['id']} not found.")
            if request.method == "DELETE":
                with sim.state.lock:
                    delete(sim, request, coll, rec)
                return Response(status_code=204)
            return json_body({key: public(rec)})

        methods = ["GET"] if coll == "amphorae" else ["GET", "POST"]
        return [Route(prefix, index, methods=methods),
                Route(prefix + "/{rid}", one, methods=["GET"] if coll == "amphorae" else ["GET", "DELETE"])]

    out: list[BaseRoute] = [Route("/", versions)]
    for v in ("/v2", "/v2.0"):
        for coll in ("loadbalancers", "listeners", "pools", "healthmonitors"):
            out += collection(coll, f"{v}/lbaas/{coll}")
        out += collection("members", f"{v}/lbaas/pools/{{pool_id}}/members")
        out += collection("amphorae", f"{v}/octavia/amphorae")
    return out


async def versions(request: Request) -> Response:
    """Octavia's root document: every v2.x minor version, all served at ``/v2``."""
    base = str(request.base_url).rstrip("/") + "/load-balancer/"
    out = [{"id": f"v2.{i}", "status": "CURRENT" if i == 30 else "SUPPORTED", "updated": "2025-02-26T00:00:00Z",
            "links": [{"href": base + "v2", "rel": "self"}]} for i in range(31)]
    return json_body({"versions": out})


SERVICE = ServiceDef(type="load-balancer", name="octavia", mount="/load-balancer", path="/load-balancer",
                     routes=routes, public=(r"/?$",))


def populate(sim: Simulator, n: int, rng: Any) -> None:
    from app.simulator.octavia_fleet import populate as _populate

    _populate(sim, n, rng)

