"""Simulator core: state, clock, knobs (latency, faults, token lifetime), auth and the ASGI app.

Every OpenStack service of the simulator lives in its own module (``keystone.py``, ``nova.py``, ...)
that exposes ``SERVICE: ServiceDef``; :func:`build_app` mounts them all under one port, devstack
style (``/identity``, ``/compute``, ``/network``, ``/volume``, ``/image``, ``/heat-api``,
``/placement``), and the Keystone catalog points at those prefixes.

State is plain API-shaped dicts (what the newest microversion would return), kept per kind in
insertion order in :class:`SimState`. Keys starting with ``_`` are internal and never rendered.
Time-based transitions (BUILD -> ACTIVE, creating -> available, ...) are lazy: a record carries
``_pending`` steps that :meth:`Simulator.settle` applies when the record is next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

# ----------------------------------------------------------------------------------------------
# Time and ids


def iso(ts: float | None) -> str | None:
    """OpenStack's usual timestamp format: ``2026-11-23T10:00:00Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(ts: float | None) -> str | None:
    """Timestamp with microseconds and no zone (Nova hypervisor/service style: ``2026-11-23T10:00:00.000000``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_iso(value: str) -> float:
    v = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def new_id(rng: random.Random | None = None) -> str:
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def request_id() -> str:
    return f"req-{uuid.uuid4()}"


# ----------------------------------------------------------------------------------------------
# Knobs


@dataclass
class FaultRule:
    """Inject a failure into requests whose path matches ``pattern`` (a regex searched in the path).

    ``action``: ``status`` answers ``status`` with an OpenStack-style error body; ``drop`` starts a
    response and cuts the connection mid-body; ``hang`` sleeps ``delay`` seconds before answering
    normally; ``malformed`` answers 200 with a body that is not JSON; ``truncate`` answers 200 with
    the first half of the real JSON body. ``rate`` is the probability per matching request;
    ``count`` (if set) limits how many requests the rule fires on, after which it is spent.
    """

    pattern: str
    status: int = 503
    rate: float = 1.0
    count: int | None = None
    method: str | None = None
    action: Literal["status", "drop", "hang", "malformed", "truncate"] = "status"
    delay: float = 30.0
    fired: int = 0

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if not re.search(self.pattern, path):
            return False
        return self.rate >= 1.0 or rng.random() < self.rate


@dataclass
class TokenInfo:
    token: str
    user_id: str
    project_id: str | None
    domain_id: str | None
    expires_at: float
    issued_at: float
    methods: list[str]
    roles: list[dict[str, str]]
    app_cred_id: str | None = None


@dataclass
class ServiceDef:
    """One OpenStack service: catalog entry (``type``/``name``/``path``) and its routes.

    ``path`` is the catalog endpoint path; it may contain ``{project_id}``. ``routes`` are mounted at
    ``mount`` (the path prefix, without project id). ``public`` lists route-relative regexes that
    need no token (version documents).
    """

    type: str
    name: str
    mount: str
    path: str
    routes: Callable[[Simulator], list[BaseRoute]]
    public: tuple[str, ...] = ()
    extra_types: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# State


class SimState:
    """All simulated resources, per kind, in insertion order (``dict`` id -> API-shaped record)."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.RLock()

    def coll(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.kinds.setdefault(kind, {})

    def add(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        self.coll(kind)[record["id"]] = record
        return record

    def get(self, kind: str, rid: str) -> dict[str, Any] | None:
        return self.kinds.get(kind, {}).get(rid)

    def remove(self, kind: str, rid: str, keep_tombstone: bool = False) -> dict[str, Any] | None:
        rec = self.kinds.get(kind, {}).pop(rid, None)
        if rec is not None and keep_tombstone:
            self.deleted.setdefault(kind, []).append(rec)
        return rec

    def values(self, kind: str) -> Iterable[dict[str, Any]]:
        return self.kinds.get(kind, {}).values()

    def count(self, kind: str) -> int:
        return len(self.kinds.get(kind, {}))


# ----------------------------------------------------------------------------------------------
# Errors and helpers shared by the services


def error_response(status: int, message: str, style: str = "compute", headers: dict[str, str] | None = None) -> Response:
    """OpenStack error bodies differ per service; ``style`` picks the shape.

    compute: ``{"itemNotFound": {"code": 404, "message": ...}}`` (key by status: badRequest, forbidden,
    itemNotFound, conflictingRequest, overLimit, computeFault); network: ``{"NeutronError": {...}}``;
    identity: ``{"error": {"code", "title", "message"}}``; volume: like compute; orchestration: heat
    style; image: webob's HTML page (what the real Glance answers, even to ``Accept: application/json``).
    """
    titles = {
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
        406: "Not Acceptable", 409: "Conflict", 413: "Request Entity Too Large", 429: "Too Many Requests",
        500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    }
    title = titles.get(status, "Error")
    if style == "identity":
        body: dict[str, Any] = {"error": {"code": status, "title": title, "message": message}}
    elif style == "network":
        ntype = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 403: "Forbidden"}.get(status, "NeutronError")
        body = {"NeutronError": {"type": ntype, "message": message, "detail": ""}}
    elif style in ("image", "orchestration", "placement"):
        if style == "placement":
            body = {"errors": [{"status": status, "title": title, "detail": message, "request_id": request_id()}]}
        elif style == "orchestration":
            body = {"code": status, "title": title, "explanation": message,
                    "error": {"type": title.replace(" ", ""), "message": message, "traceback": None}}
        else:
            body = {"code": status, "title": title, "message": message}
    else:
        key = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest",
               413: "overLimit", 429: "overLimit"}.get(status, "computeFault")
        body = {key: {"code": status, "message": message}}
    h = {"x-openstack-request-id": request_id()}
    if headers:
        h.update(headers)
    if style == "image":
        html = (f"<html>\n <head>\n  <title>{status} {title}</title>\n </head>\n <body>\n  <h1>{status} {title}</h1>\n"
                f"  {message}<br /><br />\n\n\n\n </body>\n</html>")
        return Response(html, status_code=status, headers=h, media_type="text/html; charset=UTF-8")
    return JSONResponse(body, status_code=status, headers=h)


class SimHTTPError(Exception):
    """Raise from a handler to answer with an OpenStack error body (style follows the service)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The record without internal ``_`` keys (shallow)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def paginate(
    request: Request,
    items: list[dict[str, Any]],
    collection: str,
    *,
    default_limit: int | None = None,
    max_limit: int = 1000,
    key: str = "id",
    links_key: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """``limit``/``marker`` pagination with a ``next`` link when more remain.

    Returns the page and the links list (``[{"rel": "next", "href": ...}]``). An unknown marker is a
    400 as in Nova/Neutron. ``collection`` is used only for error messages.
    """
    q = request.query_params
    limit_s = q.get("limit")
    if limit_s is not None:
        try:
            limit = int(limit_s)
        except ValueError as e:
            raise SimHTTPError(400, f"Invalid input for field/attribute limit. Value: {limit_s}.") from e
        if limit < 0:
            raise SimHTTPError(400, f"Invalid input for field/attribute limit. Value: {limit_s}.")
        limit = min(limit, max_limit)
    else:
        limit = default_limit if default_limit is not None else max_limit
    start = 0
    marker = q.get("marker")
    if marker:
        for i, it in enumerate(items):
            if it.get(key) == marker:
                start = i + 1
                break
        else:
            raise SimHTTPError(400, f"marker [{marker}] not found")
    page = items[start : start + limit] if limit else []
    links: list[dict[str, str]] = []
    if limit and start + limit < len(items) and page:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        if "limit" not in q:
            params.append(("limit", str(limit)))
        params.append(("marker", str(page[-1][key])))
        from urllib.parse import urlencode

        href = str(request.url.replace(query=urlencode(params)))
        links.append({"rel": "next", "href": href})
    return page, links


# ----------------------------------------------------------------------------------------------
# The simulator


class Simulator:
    """One simulated cloud: state + knobs + the ASGI app.

    Knobs (all may be changed at run time, e.g. from a test):
      * ``latency``: seconds added to every request (``await asyncio.sleep``).
      * ``faults``: list of :class:`FaultRule` (see :meth:`inject`).
      * ``token_ttl``: lifetime of issued tokens in seconds (401 after expiry).
      * ``transition_seconds``: how long state transitions take (BUILD->ACTIVE, stop, reboot, ...).
      * ``release``: a :class:`app.simulator.releases.Release` (microversion range and behaviour).
    """

    def __init__(
        self,
        *,
        release: str = "epoxy",
        seed: int = 42,
        servers: int = 200,
        latency: float = 0.0,
        token_ttl: float = 3600.0,
        transition_seconds: float = 1.0,
        username: str = "admin",
        password: str = "secret",
        project_name: str = "admin",
        region: str = "RegionOne",
        churn_interval: float | None = None,
        populate: bool = True,
    ) -> None:
        from app.simulator.releases import get_release

        self.release = get_release(release)
        self.seed = seed
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(seed + 1)
        self.state = SimState()
        self.latency = latency
        self.token_ttl = token_ttl
        self.transition_seconds = transition_seconds
        self.username = username
        self.password = password
        self.project_name = project_name
        self.region = region
        self.churn_interval = churn_interval
        self.faults: list[FaultRule] = []
        self.tokens: dict[str, TokenInfo] = {}
        self.base_url = "http://127.0.0.1:0"
        self.clock_offset = 0.0
        self.request_log: list[tuple[str, str, int]] = []
        self.log_requests = False
        self.n_servers = servers
        if populate:
            from app.simulator.fleet import generate_fleet

            generate_fleet(self, servers)

    # --- time -----------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (pending transitions become due)."""
        self.clock_offset += seconds

    def schedule(self, record: dict[str, Any], changes: dict[str, Any], after: float | None = None) -> None:
        """Apply ``changes`` to ``record`` once ``after`` seconds (default: ``transition_seconds``) have
        passed since the previous pending step (steps chain)."""
        pending = record.setdefault("_pending", [])
        base = pending[-1][0] if pending else self.now()
        pending.append((base + (self.transition_seconds if after is None else after), changes))

    def settle(self, record: dict[str, Any]) -> dict[str, Any]:
        """Apply every due pending step of ``record`` (lazy state machine). Returns the record."""
        pending = record.get("_pending")
        if pending:
            now = self.now()
            while pending and pending[0][0] <= now:
                ready_at, changes = pending.pop(0)
                for k, v in changes.items():
                    if callable(v):
                        v(record)
                    else:
                        record[k] = v
                record["updated"] = iso(ready_at) if "updated" in record else record.get("updated")
                if "updated_at" in record:
                    record["updated_at"] = iso(ready_at)
            if not pending:
                record.pop("_pending", None)
        return record

    # --- knobs ----------------------------------------------------------------------------
    def inject(self, pattern: str, **kwargs: Any) -> FaultRule:
        """Add a :class:`FaultRule`; e.g. ``sim.inject(r"/servers/detail", status=500, count=1)``."""
        rule = FaultRule(pattern=pattern, **kwargs)
        self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_tokens(self) -> None:
        """Expire every issued token now (next request gets 401, clients re-authenticate)."""
        for t in self.tokens.values():
            t.expires_at = self.now() - 1

    # --- catalog ----------------------------------------------------------------------------
    def services(self) -> list[ServiceDef]:
        from app.simulator import cinder, glance, heat, keystone, neutron, nova, placement

        return [m.SERVICE for m in (keystone, nova, neutron, cinder, glance, heat, placement)]

    def endpoint(self, service_type: str, project_id: str | None = None) -> str:
        for s in self.services():
            if s.type == service_type or service_type in s.extra_types:
                return self.base_url + s.path.replace("{project_id}", project_id or "")
        raise KeyError(service_type)

    @property
    def auth_url(self) -> str:
        return self.base_url + "/identity/v3"

    def clouds_yaml(self, cloud: str = "simulator") -> str:
        return (
            "clouds:\n"
            f"  {cloud}:\n"
            "    auth:\n"
            f"      auth_url: {self.auth_url}\n"
            f"      username: {self.username}\n"
            f"      password: {self.password}\n"
            f"      project_name: {self.project_name}\n"
            "      user_domain_name: Default\n"
            "      project_domain_name: Default\n"
            f"    region_name: {self.region}\n"
            "    identity_api_version: 3\n"
        )

    def os_env(self) -> dict[str, str]:
        return {
            "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": self.username,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project_name,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": self.region,
            "OS_IDENTITY_API_VERSION": "3",
        }

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``openstack.connect(**sim.connect_kwargs())``."""
        return {
            "auth_url": self.auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": self.region,
            "identity_api_version": "3",
        }

    # --- auth -------------------------------------------------------------------------------
    def check_token(self, token: str | None) -> TokenInfo | None:
        if not token:
            return None
        info = self.tokens.get(token)
        if info is None or info.expires_at <= self.now():
            return None
        return info

    # --- app ----------------------------------------------------------------------------------
    def build_app(self) -> Starlette:
        return build_app(self)


def _style_for(path: str) -> str:
    for prefix, style in (
        ("/identity", "identity"), ("/network", "network"), ("/image", "image"),
        ("/heat-api", "orchestration"), ("/placement", "placement"),
    ):
        if path.startswith(prefix):
            return style
    return "compute"


def build_app(sim: Simulator) -> Starlette:
    routes: list[BaseRoute] = []
    public_patterns: list[re.Pattern[str]] = [re.compile(r"^/$")]
    for svc in sim.services():
        routes.append(Mount(svc.mount, routes=svc.routes(sim)))
        for p in svc.public:
            public_patterns.append(re.compile("^" + re.escape(svc.mount) + p))

    async def root(_: Request) -> Response:
        return JSONResponse({"simulator": "mcp-openstack-ops", "release": sim.release.name})

    routes.insert(0, Route("/", root))

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        # Starlette 1.x dropped ``on_startup``; churn runs for the lifetime of the server.
        task = None
        if sim.churn_interval:
            from app.simulator.churn import run_churn

            task = asyncio.get_running_loop().create_task(run_churn(sim))
            sim._churn_task = task  # type: ignore[attr-defined]
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    async def on_sim_error(request: Request, exc: Exception) -> Response:
        # Handled inside Starlette's ExceptionMiddleware: an exception escaping the app would first get a
        # 500 from ServerErrorMiddleware, after which no error body can be sent.
        assert isinstance(exc, SimHTTPError)
        return error_response(exc.status, exc.message, _style_for(request.url.path), exc.headers)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={SimHTTPError: on_sim_error})

    inner = app.build_middleware_stack

    class SimMiddleware:
        def __init__(self, app_: Any) -> None:
            self.app = app_

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            path: str = scope["path"]
            method: str = scope["method"]
            if sim.latency:
                await asyncio.sleep(sim.latency)
            rule = next((r for r in sim.faults if r.matches(method, path, sim.fault_rng)), None)
            if rule is not None:
                rule.fired += 1
                if rule.action == "status":
                    resp = error_response(rule.status, f"Injected fault ({rule.status}).", _style_for(path),
                                          headers={"Retry-After": "0"} if rule.status in (429, 503) else None)
                    await resp(scope, receive, send)
                    return
                if rule.action == "drop":
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")]})
                    await send({"type": "http.response.body", "body": b'{"servers": [', "more_body": True})
                    raise ConnectionAbortedError("simulated dropped connection")
                if rule.action == "hang":
                    await asyncio.sleep(rule.delay)
                if rule.action == "malformed":
                    await Response("<html>502 Bad Gateway</html> not json", 200,
                                   media_type="application/json")(scope, receive, send)
                    return
            truncate = rule is not None and rule.action == "truncate"
            if not any(p.match(path) for p in public_patterns):
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                info = sim.check_token(headers.get("x-auth-token"))
                if info is None:
                    # keystonemiddleware answers in Keystone's JSON style, except in Glance (webob HTML page)
                    glance = _style_for(path) == "image"
                    resp = error_response(
                        401, "This server could not verify that you are authorized to access the document you "
                        "requested. Either you supplied the wrong credentials (e.g., bad password), or your browser "
                        "does not understand how to supply the credentials required." if glance
                        else "The request you have made requires authentication.", "image" if glance else "identity",
                        headers={"WWW-Authenticate": f'Keystone uri="{sim.auth_url}"'})
                    await resp(scope, receive, send)
                    return
                scope.setdefault("state", {})["token"] = info
            try:
                if truncate:
                    # after the token check: the handler needs ``state.token`` like any other request
                    await _truncated(self.app, scope, receive, send)
                else:
                    await self.app(scope, receive, send)
            except SimHTTPError as e:
                await error_response(e.status, e.message, _style_for(path), e.headers)(scope, receive, send)

    def build_stack() -> Any:
        return SimMiddleware(inner())

    app.build_middleware_stack = build_stack  # type: ignore[method-assign]
    return app


async def _truncated(app: Any, scope: Any, receive: Any, send: Any) -> None:
    chunks: list[bytes] = []
    start: dict[str, Any] = {}

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    body = b"".join(chunks)
    body = body[: max(1, len(body) // 2)]
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_body(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    h = {"x-openstack-request-id": request_id()}
    if headers:
        h.update(headers)
    return JSONResponse(data, status_code=status, headers=h)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise SimHTTPError(400, f"Malformed request body: {e}") from e
