"""Keystone v3 resources: users, projects, domains, roles, groups, role assignments, application
credentials, services/endpoints/regions (read from the catalog)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, TokenInfo, iso_micro, json_body, new_id, parse_iso, read_json
from app.simulator.keystone import base, bind, catalog, domain_ref

# kind -> (collection key, member key, fields rendered in order)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "users": ("user", ("id", "name", "domain_id", "enabled", "email", "default_project_id", "description",
                       "password_expires_at", "options")),
    "projects": ("project", ("id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain",
                             "tags", "options")),
    "domains": ("domain", ("id", "name", "description", "enabled", "tags", "options")),
    "roles": ("role", ("id", "name", "domain_id", "description", "options")),
    "groups": ("group", ("id", "name", "domain_id", "description")),
}
FILTERS = {"name", "domain_id", "enabled", "parent_id", "is_domain"}


def render(request: Request, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    _, fields = KINDS[kind]
    out = {f: rec[f] for f in fields if f in rec}
    out["links"] = {"self": f"{base(request)}/v3/{kind}/{rec['id']}"}
    return out


def _links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "previous": None, "next": None}


def _match(rec: dict[str, Any], q: Any) -> bool:
    for k in FILTERS:
        if k in q:
            v = rec.get(k)
            want: Any = q[k]
            if isinstance(v, bool):
                want = want.lower() in ("1", "true", "yes")
            if v != want:
                return False
    return True


def _get(sim: Simulator, kind: str, rid: str) -> dict[str, Any]:
    rec = sim.state.get(kind, rid)
    if rec is None:
        raise SimHTTPError(404, f"Could not find {KINDS[kind][0]}: {rid}.")
    return rec


def crud(sim: Simulator, kind: str) -> list[BaseRoute]:
    member = KINDS[kind][0]
    async def listing(_: Simulator, request: Request) -> Response:
        q = request.query_params
        items = [render(request, kind, r) for r in sim.state.values(kind) if _match(r, q)]
        return json_body({kind: items, "links": _links(request)})

    async def show(_: Simulator, request: Request) -> Response:
        return json_body({member: render(request, kind, _get(sim, kind, request.path_params["id"]))})

    async def create(_: Simulator, request: Request) -> Response:
        body = (await read_json(request)).get(member)
        if not isinstance(body, dict) or not body.get("name"):
            raise SimHTTPError(400, f"Invalid input for field '{member}': 'name' is a required property")
        dom = body.get("domain_id", "default") if kind != "domains" and kind != "roles" else None
        if any(r["name"] == body["name"] and r.get("domain_id") == dom for r in sim.state.values(kind)):
            raise SimHTTPError(409, f"Conflict occurred attempting to store {member} - Duplicate entry found "
                                    f"with name {body['name']}.")
        rec: dict[str, Any] = {"id": new_id().replace("-", ""), "name": body["name"],
                               "description": body.get("description")}
        if kind in ("users", "projects", "groups"):
            rec["domain_id"] = dom
        if kind in ("users", "projects", "domains"):
            rec["enabled"] = bool(body.get("enabled", True))
            rec["options"] = {}
        if kind in ("projects", "domains"):
            rec["tags"] = list(body.get("tags", []))
        if kind == "projects":
            rec.update(parent_id=body.get("parent_id") or dom, is_domain=False)
        if kind == "roles":
            rec.update(domain_id=None, options={})
        if kind == "users":
            rec.update(password_expires_at=None, _password=body.get("password"))
            for k in ("email", "default_project_id"):
                if k in body:
                    rec[k] = body[k]
        sim.state.add(kind, rec)
        return json_body({member: render(request, kind, rec)}, status=201)

    async def update(_: Simulator, request: Request) -> Response:
        rec = _get(sim, kind, request.path_params["id"])
        body = (await read_json(request)).get(member) or {}
        for k, v in body.items():
            if k == "password" and kind == "users":
                rec["_password"] = v
            elif k != "id" and not k.startswith("_"):
                rec[k] = v
        return json_body({member: render(request, kind, rec)})

    async def delete(_: Simulator, request: Request) -> Response:
        rid = request.path_params["id"]
        _get(sim, kind, rid)
        sim.state.remove(kind, rid)
        col = {"users": "user_id", "projects": "project_id", "roles": "role_id", "groups": "group_id"}.get(kind)
        if col:
            for a in [a for a in sim.state.values("role_assignments") if a.get(col) == rid]:
                sim.state.remove("role_assignments", a["id"])
        return Response(status_code=204)

    return [
        Route(f"/v3/{kind}", bind(sim, listing), methods=["GET"]),
        Route(f"/v3/{kind}", bind(sim, create), methods=["POST"]),
        Route(f"/v3/{kind}/{{id}}", bind(sim, show), methods=["GET"]),
        Route(f"/v3/{kind}/{{id}}", bind(sim, update), methods=["PATCH"]),
        Route(f"/v3/{kind}/{{id}}", bind(sim, delete), methods=["DELETE"]),
    ]


# ----------------------------------------------------------------------------------------------
# Role assignments


async def role_assignments(sim: Simulator, request: Request) -> Response:
    q = request.query_params
    names = "include_names" in q and q["include_names"].lower() not in ("0", "false")
    effective = "effective" in q and q["effective"].lower() not in ("0", "false")
    if "scope.domain.id" in q or "scope.system" in q:
        return json_body({"role_assignments": [], "links": _links(request)})
    expanded: list[tuple[dict[str, Any], str | None, str | None]] = []  # (assignment, user_id, via group)
    for a in sim.state.values("role_assignments"):
        if a.get("group_id") and effective:
            g = sim.state.get("groups", a["group_id"])
            for uid in (g or {}).get("_members", ()):
                expanded.append((a, uid, a["group_id"]))
        else:
            expanded.append((a, a.get("user_id"), None))
    out = []
    b = base(request) + "/v3"
    for a, uid, via in expanded:
        if "scope.project.id" in q and a["project_id"] != q["scope.project.id"]:
            continue
        if "user.id" in q and uid != q["user.id"]:
            continue
        if "group.id" in q and (a.get("group_id") != q["group.id"] or effective):
            continue
        if "role.id" in q and a["role_id"] != q["role.id"]:
            continue
        role: dict[str, Any] = {"id": a["role_id"]}
        proj: dict[str, Any] = {"id": a["project_id"]}
        if names:
            r = sim.state.get("roles", a["role_id"]) or {}
            role["name"] = r.get("name", "")
            p = sim.state.get("projects", a["project_id"]) or {}
            proj.update(name=p.get("name", ""), domain=domain_ref(sim, p.get("domain_id")))
        item: dict[str, Any] = {"role": role, "scope": {"project": proj}}
        if uid:
            user: dict[str, Any] = {"id": uid}
            if names:
                u = sim.state.get("users", uid) or {}
                user.update(name=u.get("name", ""), domain=domain_ref(sim, u.get("domain_id")))
            item["user"] = user
            link = f"{b}/projects/{a['project_id']}/users/{uid}/roles/{a['role_id']}"
            item["links"] = {"assignment": link}
            if via:
                item["links"]["membership"] = f"{b}/groups/{via}/users/{uid}"
        else:
            group: dict[str, Any] = {"id": a["group_id"]}
            if names:
                g = sim.state.get("groups", a["group_id"]) or {}
                group.update(name=g.get("name", ""), domain=domain_ref(sim, g.get("domain_id")))
            item["group"] = group
            item["links"] = {"assignment": f"{b}/projects/{a['project_id']}/groups/{a['group_id']}/roles/{a['role_id']}"}
        out.append(item)
    return json_body({"role_assignments": out, "links": _links(request)})


async def grant(sim: Simulator, request: Request) -> Response:
    pp = request.path_params
    _get(sim, "projects", pp["project_id"])
    _get(sim, "roles", pp["role_id"])
    actor = pp.get("user_id") or pp.get("group_id")
    _get(sim, "users" if pp.get("user_id") else "groups", actor)
    key = f"{pp['role_id']}:{pp['project_id']}:{pp.get('user_id') or ''}:{pp.get('group_id') or ''}"
    if request.method == "PUT":
        sim.state.add("role_assignments", {"id": key, "role_id": pp["role_id"], "project_id": pp["project_id"],
                                           "user_id": pp.get("user_id"), "group_id": pp.get("group_id")})
    elif request.method == "DELETE":
        if sim.state.remove("role_assignments", key) is None:
            raise SimHTTPError(404, f"Could not find role assignment with role: {pp['role_id']}.")
    elif sim.state.get("role_assignments", key) is None:
        raise SimHTTPError(404, f"Could not find role assignment with role: {pp['role_id']}.")
    return Response(status_code=204)


async def group_users(sim: Simulator, request: Request) -> Response:
    g = _get(sim, "groups", request.path_params["id"])
    users = [render(request, "users", u) for uid in g.get("_members", ()) if (u := sim.state.get("users", uid))]
    return json_body({"users": users, "links": _links(request)})


async def user_projects(sim: Simulator, request: Request) -> Response:
    uid = _get(sim, "users", request.path_params["id"])["id"]
    ids = {a["project_id"] for a in sim.state.values("role_assignments") if a.get("user_id") == uid}
    items = [render(request, "projects", p) for p in sim.state.values("projects") if p["id"] in ids]
    return json_body({"projects": items, "links": _links(request)})


# ----------------------------------------------------------------------------------------------
# Application credentials


def _render_cred(request: Request, c: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in c.items() if not k.startswith("_")}
    out["expires_at"] = iso_micro(c["_expires"]) if c.get("_expires") else None
    out["links"] = {"self": f"{base(request)}/v3/users/{c['user_id']}/application_credentials/{c['id']}"}
    return out


async def app_creds(sim: Simulator, request: Request) -> Response:
    uid = _get(sim, "users", request.path_params["user_id"])["id"]
    info: TokenInfo = request.scope["state"]["token"]
    if request.method == "POST":
        body = (await read_json(request)).get("application_credential") or {}
        if not body.get("name"):
            raise SimHTTPError(400, "Invalid input for field 'application_credential': 'name' is a required property")
        if any(c["name"] == body["name"] and c["user_id"] == uid for c in sim.state.values("application_credentials")):
            raise SimHTTPError(409, "Conflict occurred attempting to store application_credential - "
                                    "Duplicate application credential.")
        project_id = info.project_id or ""
        roles = body.get("roles") or [{"id": r["id"], "name": r["name"]} for r in info.roles]
        secret = body.get("secret") or secrets.token_urlsafe(64)
        c = sim.state.add("application_credentials", {
            "id": new_id().replace("-", ""), "name": body["name"], "description": body.get("description"),
            "user_id": uid, "project_id": project_id, "roles": roles,
            "unrestricted": bool(body.get("unrestricted", False)), "access_rules": body.get("access_rules", []),
            "_expires": parse_iso(body["expires_at"]) if body.get("expires_at") else None, "_secret": secret,
            "_hash": hashlib.sha256(secret.encode()).hexdigest()})
        out = _render_cred(request, c)
        out["secret"] = secret
        return json_body({"application_credential": out}, status=201)
    q = request.query_params
    items = [_render_cred(request, c) for c in sim.state.values("application_credentials")
             if c["user_id"] == uid and ("name" not in q or c["name"] == q["name"])]
    return json_body({"application_credentials": items, "links": _links(request)})


async def app_cred(sim: Simulator, request: Request) -> Response:
    cid = request.path_params["id"]
    c = sim.state.get("application_credentials", cid)
    if c is None or c["user_id"] != request.path_params["user_id"]:
        raise SimHTTPError(404, f"Could not find Application Credential: {cid}.")
    if request.method == "DELETE":
        sim.state.remove("application_credentials", cid)
        return Response(status_code=204)
    return json_body({"application_credential": _render_cred(request, c)})


# ----------------------------------------------------------------------------------------------
# Services, endpoints, regions (views of the catalog)


async def services(sim: Simulator, request: Request) -> Response:
    b = base(request) + "/v3/services/"
    items = [{"id": s["id"], "type": s["type"], "name": s["name"], "enabled": True, "description": None,
              "links": {"self": b + s["id"]}} for s in catalog(sim, None)]
    return json_body({"services": items, "links": _links(request)})


async def endpoints(sim: Simulator, request: Request) -> Response:
    b = base(request) + "/v3/endpoints/"
    items = []
    for s in catalog(sim, None):
        for e in s["endpoints"]:
            items.append({"id": e["id"], "interface": e["interface"], "region": e["region"],
                          "region_id": e["region_id"], "service_id": s["id"],
                          "url": e["url"], "enabled": True, "links": {"self": b + e["id"]}})
    return json_body({"endpoints": items, "links": _links(request)})


async def regions(sim: Simulator, request: Request) -> Response:
    return json_body({"regions": [{"id": sim.region, "description": "", "parent_region_id": None,
                                   "links": {"self": f"{base(request)}/v3/regions/{sim.region}"}}],
                      "links": _links(request)})


def routes(sim: Simulator) -> list[BaseRoute]:
    out: list[BaseRoute] = [
        Route("/v3/role_assignments", bind(sim, role_assignments)),
        Route("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", bind(sim, grant),
              methods=["PUT", "DELETE", "HEAD", "GET"]),
        Route("/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}", bind(sim, grant),
              methods=["PUT", "DELETE", "HEAD", "GET"]),
        Route("/v3/groups/{id}/users", bind(sim, group_users)),
        Route("/v3/users/{id}/projects", bind(sim, user_projects)),
        Route("/v3/users/{user_id}/application_credentials", bind(sim, app_creds), methods=["GET", "POST"]),
        Route("/v3/users/{user_id}/application_credentials/{id}", bind(sim, app_cred), methods=["GET", "DELETE"]),
        Route("/v3/services", bind(sim, services)), Route("/v3/endpoints", bind(sim, endpoints)),
        Route("/v3/regions", bind(sim, regions)),
    ]
    for kind in KINDS:
        out.extend(crud(sim, kind))
    return out
