"""Keystone v3 simulator: version discovery, tokens (password, application credential, token), the
service catalog and the fleet's identity population.

State kinds: ``domains``, ``projects``, ``users`` (raw records carry ``_password`` and ``email``; the
password is never rendered), ``roles``, ``groups``, ``role_assignments``, ``application_credentials``
(``_secret`` never rendered after creation). CRUD/list handlers live in :mod:`app.simulator.keystone_api`.
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import (
    ServiceDef, SimHTTPError, Simulator, TokenInfo, iso, json_body, new_id, read_json, request_id,
)

API_VERSION = "v3.14"
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
UPDATED = "2020-04-07T00:00:00Z"


def bind(sim: Simulator, fn: Callable[[Simulator, Request], Awaitable[Response]]) -> Callable[[Request],
                                                                                     Awaitable[Response]]:
    """Starlette endpoint calling ``fn(sim, request)``."""

    async def endpoint(request: Request) -> Response:
        return await fn(sim, request)

    return endpoint


def iso_token(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/identity"


def _version(request: Request) -> dict[str, Any]:
    return {"id": API_VERSION, "status": "stable", "updated": UPDATED, "media-types": MEDIA,
            "links": [{"rel": "self", "href": base(request) + "/v3/"}]}


async def versions(request: Request) -> Response:
    return json_body({"versions": {"values": [_version(request)]}}, status=300,
                     headers={"Location": base(request) + "/v3/"})


async def v3_root(request: Request) -> Response:
    return json_body({"version": _version(request)})


# ----------------------------------------------------------------------------------------------
# Catalog


def catalog(sim: Simulator, project_id: str | None) -> list[dict[str, Any]]:
    out = []
    for svc in sim.services():
        url = sim.base_url + svc.path.replace("{project_id}", project_id or "")
        for stype in (svc.type, *svc.extra_types):
            sid = new_id(random.Random(f"svc:{stype}"))
            eps = [{"id": new_id(random.Random(f"ep:{stype}:{iface}")), "interface": iface,
                    "region": sim.region, "region_id": sim.region, "url": url}
                   for iface in ("public", "internal", "admin")]
            out.append({"endpoints": eps, "id": sid, "type": stype, "name": svc.name})
    return out


# ----------------------------------------------------------------------------------------------
# Lookups


def domain_ref(sim: Simulator, domain_id: str | None) -> dict[str, str]:
    d = sim.state.get("domains", domain_id or "")
    return {"id": domain_id or "", "name": d["name"] if d else ""}


def _find_domain(sim: Simulator, ref: dict[str, Any] | None) -> str:
    ref = ref or {}
    if ref.get("id"):
        return str(ref["id"])
    name = ref.get("name", "Default")
    for d in sim.state.values("domains"):
        if d["name"] == name:
            return d["id"]
    raise SimHTTPError(401, "The request you have made requires authentication.")


def _find_user(sim: Simulator, ref: dict[str, Any]) -> dict[str, Any] | None:
    if ref.get("id"):
        return sim.state.get("users", ref["id"])
    dom = _find_domain(sim, ref.get("domain"))
    return next((u for u in sim.state.values("users") if u["name"] == ref.get("name") and u["domain_id"] == dom),
                None)


def _find_project(sim: Simulator, ref: dict[str, Any]) -> dict[str, Any] | None:
    if ref.get("id"):
        return sim.state.get("projects", ref["id"])
    dom = _find_domain(sim, ref.get("domain"))
    return next((p for p in sim.state.values("projects")
                 if p["name"] == ref.get("name") and p["domain_id"] == dom), None)


def user_roles_on_project(sim: Simulator, user_id: str, project_id: str) -> list[dict[str, str]]:
    user = sim.state.get("users", user_id)
    groups = set(user.get("_groups", ())) if user else set()
    role_ids: dict[str, None] = {}
    for a in sim.state.values("role_assignments"):
        if a["project_id"] != project_id:
            continue
        if a.get("user_id") == user_id or (a.get("group_id") and a["group_id"] in groups):
            role_ids.setdefault(a["role_id"], None)
    out = []
    for rid in role_ids:
        r = sim.state.get("roles", rid)
        if r is not None:
            out.append({"id": r["id"], "name": r["name"]})
    return out


def _unauthorized(msg: str = "The request you have made requires authentication.") -> SimHTTPError:
    return SimHTTPError(401, msg)


# ----------------------------------------------------------------------------------------------
# Tokens


def _authenticate(sim: Simulator, auth: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, list[str],
                                                               str | None]:
    ident = auth.get("identity") or {}
    methods = ident.get("methods") or []
    if not methods:
        raise SimHTTPError(400, "Expecting to find identity in auth. The server could not comply with the request "
                                "since it is either malformed or otherwise incorrect.")
    method = methods[0]
    app_cred_id = None
    project = None
    if method == "password":
        uref = (ident.get("password") or {}).get("user") or {}
        user = _find_user(sim, uref)
        if user is None or not user.get("enabled", True) or user.get("_password") != uref.get("password"):
            raise _unauthorized()
    elif method == "application_credential":
        ref = ident.get("application_credential") or {}
        cred = None
        if ref.get("id"):
            cred = sim.state.get("application_credentials", ref["id"])
        else:
            owner = _find_user(sim, ref.get("user") or {})
            if owner is not None:
                cred = next((c for c in sim.state.values("application_credentials")
                             if c["name"] == ref.get("name") and c["user_id"] == owner["id"]), None)
        if cred is None or cred["_secret"] != ref.get("secret"):
            raise _unauthorized()
        if cred.get("_expires") is not None and cred["_expires"] <= sim.now():
            raise _unauthorized()
        user = sim.state.get("users", cred["user_id"])
        if user is None:
            raise _unauthorized()
        project = sim.state.get("projects", cred["project_id"])
        app_cred_id = cred["id"]
    elif method == "token":
        info = sim.check_token((ident.get("token") or {}).get("id"))
        if info is None:
            raise _unauthorized()
        user = sim.state.get("users", info.user_id)
        if user is None:
            raise _unauthorized()
    else:
        raise _unauthorized(f"Attempted to authenticate with an unsupported method {method}.")
    scope = auth.get("scope")
    if project is None and isinstance(scope, dict) and scope.get("project"):
        project = _find_project(sim, scope["project"])
        if project is None:
            raise _unauthorized()
    if project is not None and not user_roles_on_project(sim, user["id"], project["id"]):
        raise _unauthorized(f"User {user['id']} has no access to project {project['id']}")
    return user, project, methods, app_cred_id


def token_body(sim: Simulator, info: TokenInfo, with_catalog: bool = True) -> dict[str, Any]:
    user = sim.state.get("users", info.user_id) or {"id": info.user_id, "name": "", "domain_id": "default"}
    tok: dict[str, Any] = {
        "methods": info.methods,
        "user": {"domain": domain_ref(sim, user["domain_id"]), "id": user["id"], "name": user["name"],
                 "password_expires_at": None},
        "audit_ids": [base64.urlsafe_b64encode(info.token.encode()[:16]).decode().rstrip("=")[:22]],
        "expires_at": iso_token(info.expires_at),
        "issued_at": iso_token(info.issued_at),
    }
    if info.project_id:
        p = sim.state.get("projects", info.project_id) or {"id": info.project_id, "name": "", "domain_id": "default"}
        tok["project"] = {"domain": domain_ref(sim, p["domain_id"]), "id": p["id"], "name": p["name"]}
        tok["is_domain"] = False
        tok["roles"] = info.roles
        if with_catalog:
            tok["catalog"] = catalog(sim, info.project_id)
    if info.app_cred_id:
        c = sim.state.get("application_credentials", info.app_cred_id)
        tok["application_credential"] = {"id": info.app_cred_id, "name": c["name"] if c else "",
                                         "restricted": not (c or {}).get("unrestricted", False)}
    return {"token": tok}


async def issue_token(sim: Simulator, request: Request) -> Response:
    body = await read_json(request)
    auth = body.get("auth") if isinstance(body, dict) else None
    if not isinstance(auth, dict):
        raise SimHTTPError(400, "Expecting to find auth in request body. The server could not comply with the "
                                "request since it is either malformed or otherwise incorrect.")
    user, project, methods, app_cred_id = _authenticate(sim, auth)
    now = sim.now()
    roles = user_roles_on_project(sim, user["id"], project["id"]) if project else []
    info = TokenInfo(token="gAAAAA" + secrets.token_urlsafe(120), user_id=user["id"],
                     project_id=project["id"] if project else None,
                     domain_id=project["domain_id"] if project else None, expires_at=now + sim.token_ttl,
                     issued_at=now, methods=methods, roles=roles, app_cred_id=app_cred_id)
    sim.tokens[info.token] = info
    nocat = "nocatalog" in request.query_params
    return json_body(token_body(sim, info, not nocat), status=201, headers={"X-Subject-Token": info.token})


def _subject(sim: Simulator, request: Request) -> TokenInfo:
    subject = request.headers.get("x-subject-token")
    info = sim.check_token(subject)
    if info is None:
        raise SimHTTPError(404, f"Could not find token: {subject}.")
    return info


async def validate_token(sim: Simulator, request: Request) -> Response:
    info = _subject(sim, request)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": info.token,
                                                  "x-openstack-request-id": request_id()})
    nocat = "nocatalog" in request.query_params
    return json_body(token_body(sim, info, not nocat), headers={"X-Subject-Token": info.token})


async def revoke_token(sim: Simulator, request: Request) -> Response:
    info = _subject(sim, request)
    sim.tokens.pop(info.token, None)
    return Response(status_code=204)


async def auth_catalog(sim: Simulator, request: Request) -> Response:
    info: TokenInfo = request.scope["state"]["token"]
    return json_body({"catalog": catalog(sim, info.project_id),
                      "links": {"self": str(request.url), "previous": None, "next": None}})


async def auth_projects(sim: Simulator, request: Request) -> Response:
    from app.simulator.keystone_api import render

    info: TokenInfo = request.scope["state"]["token"]
    ids = {a["project_id"] for a in sim.state.values("role_assignments") if a.get("user_id") == info.user_id}
    projects = [render(request, "projects", p) for p in sim.state.values("projects") if p["id"] in ids]
    return json_body({"projects": projects, "links": {"self": str(request.url), "previous": None, "next": None}})


def _routes(sim: Simulator) -> list[BaseRoute]:
    from app.simulator import keystone_api

    return [
        Route("/", versions), Route("/v3", v3_root), Route("/v3/", v3_root),
        Route("/v3/auth/tokens", bind(sim, issue_token), methods=["POST"]),
        Route("/v3/auth/tokens", bind(sim, validate_token), methods=["GET", "HEAD"]),
        Route("/v3/auth/tokens", bind(sim, revoke_token), methods=["DELETE"]),
        Route("/v3/auth/catalog", bind(sim, auth_catalog)), Route("/v3/auth/projects", bind(sim, auth_projects)),
        *keystone_api.routes(sim),
    ]


SERVICE = ServiceDef(type="identity", name="keystone", mount="/identity", path="/identity/v3", routes=_routes,
                     public=(r"/?$", r"/v3/?$", r"/v3/auth/tokens/?$"))


# ----------------------------------------------------------------------------------------------
# Population

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
         "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara"]
TEAMS = ["web", "data", "ml", "billing", "search", "mobile", "infra", "payments", "analytics", "media", "iot",
         "edge", "ci", "qa", "research", "crm", "erp", "logistics", "gaming", "backup"]


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    st = sim.state
    t0 = sim.now() - 400 * 86400
    st.add("domains", {"id": "default", "name": "Default", "description": "The default domain", "enabled": True,
                       "tags": [], "options": {}})
    roles = {}
    for name in ("admin", "member", "reader"):
        r = st.add("roles", {"id": new_id(rng), "name": name, "domain_id": None, "description": None,
                             "options": {"immutable": True}})
        roles[name] = r["id"]
    n_projects = max(3, n // 100)
    projects = []
    for i in range(n_projects):
        if i == 0:
            name, desc = sim.project_name, "Bootstrap project for initializing the cloud."
        elif i == 1:
            name, desc = "service", "Project for OpenStack services"
        else:
            team = TEAMS[(i - 2) % len(TEAMS)]
            name = f"{team}-{(i - 2) // len(TEAMS) + 1:02d}" if i - 2 >= len(TEAMS) else team
            desc = f"{team.capitalize()} team workloads"
        projects.append(st.add("projects", {
            "id": new_id(rng).replace("-", ""), "name": name, "domain_id": "default", "description": desc,
            "enabled": True, "parent_id": "default", "is_domain": False, "tags": [], "options": {}}))
    n_users = max(5, n // 50)
    users = []
    for i in range(n_users):
        if i == 0:
            name, pw = sim.username, sim.password
        else:
            name = f"{FIRST[i % len(FIRST)]}{'' if i < len(FIRST) else i // len(FIRST)}"
            pw = f"pw-{rng.getrandbits(48):012x}"
        proj = projects[0] if i == 0 else projects[1 + (i % (len(projects) - 1))]
        users.append(st.add("users", {
            "id": new_id(rng).replace("-", ""), "name": name, "domain_id": "default", "enabled": i % 17 != 16,
            "email": f"{name}@example.org", "default_project_id": proj["id"], "password_expires_at": None,
            "options": {}, "_password": pw, "_created": iso(t0 + i * 3600)}))

    def assign(role: str, project_id: str, user_id: str | None = None, group_id: str | None = None) -> None:
        key = f"{role}:{project_id}:{user_id or ''}:{group_id or ''}"
        st.add("role_assignments", {"id": key, "role_id": roles[role], "project_id": project_id,
                                    "user_id": user_id, "group_id": group_id})

    admin = users[0]
    for p in projects:
        assign("admin", p["id"], admin["id"])
    for i, u in enumerate(users[1:], 1):
        proj = projects[1 + (i % (len(projects) - 1))]
        assign("member" if i % 4 else "reader", proj["id"], u["id"])
        if i % 7 == 0:
            assign("member", projects[1 + ((i + 3) % (len(projects) - 1))]["id"], u["id"])
    for gname, role in (("operators", "admin"), ("auditors", "reader")):
        g = st.add("groups", {"id": new_id(rng).replace("-", ""), "name": gname, "domain_id": "default",
                              "description": f"{gname.capitalize()} of the cloud"})
        members = [u for j, u in enumerate(users[1:], 1) if j % (5 if role == "admin" else 6) == 0][:10]
        g["_members"] = [u["id"] for u in members]
        for u in members:
            u.setdefault("_groups", []).append(g["id"])
        assign(role, projects[0]["id"] if role == "admin" else projects[-1]["id"], group_id=g["id"])
