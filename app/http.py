"""The streamable-http transport: the SDK's MCP app plus bearer auth, ``/healthz``, ``/readyz`` and
``/metrics``, served by uvicorn.

Security defaults: bearer auth compares in constant time and answers 401 with ``WWW-Authenticate``;
tokens are read from the ``Authorization`` header only (never the query string); the server refuses to
bind a non-loopback address without auth unless ``--allow-unauthenticated-remote`` is given; DNS
rebinding protection (Host/Origin checks) is on for loopback binds and for the hosts listed in
``OPS_ALLOWED_HOSTS`` otherwise; request bodies are capped by the SDK (4 MiB).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING, Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.auth import ScopeGate, check_oauth_settings, oauth_enabled
from app.errors import InvalidArgument, OpsError
from app.metrics import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from app.config import Settings
    from app.server import ServerState

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_policy(settings: Settings) -> None:
    """Refuse unsafe HTTP setups before binding (raised as InvalidArgument with what to do)."""
    if settings.auth_enable and not (settings.secret_key and settings.secret_key.get_secret_value()):
        raise InvalidArgument(
            "REMOTE_AUTH_ENABLE is on but no REMOTE_SECRET_KEY/--secret-key is set; set a long random token."
        )
    check_oauth_settings(settings)
    authenticated = settings.auth_enable or oauth_enabled(settings)
    if not is_loopback(settings.host) and not authenticated and not settings.allow_unauthenticated_remote:
        raise InvalidArgument(
            f"Refusing to serve on non-loopback address {settings.host} without authentication. "
            "Enable bearer auth (--auth-enable --secret-key ...) or OAuth (OPS_OAUTH_ISSUER), bind 127.0.0.1, or pass "
            "--allow-unauthenticated-remote if a trusted proxy in front authenticates."
        )


class CannotListen(OpsError):
    """The HTTP address cannot be bound (port taken, address not local, no permission)."""


KEEP_ALIVE_SECONDS = 75


def bind_socket(settings: Settings, *, metrics: bool = False) -> socket.socket:
    """A listening socket on ``settings.host:port`` (``metrics``: the metrics port), bound before the
    server starts anything (database, poller): a taken port is one clear error instead of a half-started
    server's tracebacks."""
    if metrics:
        host, port = settings.metrics_host or settings.host, int(settings.metrics_port or 0)
        flag = "--metrics-port / OPS_METRICS_PORT"
    else:
        host, port = settings.host, settings.port
        flag = "--port / FASTMCP_PORT"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does; a LISTENing port stays taken
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        where = f"{host}:{port}"
        if e.errno == errno.EADDRINUSE:
            why = (f"cannot listen on {where}: the port is already in use (another server, or an earlier one "
                   f"still running). Stop it, or choose another port with {flag}.")
        elif e.errno in (errno.EACCES, errno.EPERM):
            why = f"cannot listen on {where}: permission denied (ports below 1024 need privileges); use {flag}."
        elif e.errno == errno.EADDRNOTAVAIL:
            why = f"cannot listen on {where}: no local interface has that address; check --host / FASTMCP_HOST."
        else:
            why = f"cannot listen on {where}: {e.strerror or e}. Check --host and --port."
        raise CannotListen(why) from None
    except (socket.gaierror, OverflowError, ValueError) as e:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {e}. Check --host and --port.") from None
    sock.setblocking(False)
    return sock


def transport_security(settings: Settings) -> TransportSecuritySettings:
    if is_loopback(settings.host):
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=origins)
    if settings.allowed_hosts:
        hosts = list(settings.allowed_hosts)
        origins = [f"https://{h}" for h in hosts] + [f"http://{h}" for h in hosts]
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=origins)
    # Remote bind with no host list: bearer auth (required by check_bind_policy unless explicitly waived)
    # is what protects the endpoint; a browser on a rebinding page cannot know the token.
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


class BearerAuthMiddleware:
    """Constant-time bearer token check for every path except the open probes."""

    def __init__(self, app: Any, token: str, state: ServerState) -> None:
        self.app = app
        self._token = token.encode()
        self._state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        supplied = b""
        for k, v in scope.get("headers", []):
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                supplied = v[7:].strip()
                break
        if not supplied or not hmac.compare_digest(supplied, self._token):
            if self._state.context is not None:
                self._state.context.metrics.http_auth_failures.inc("invalid" if supplied else "missing")
            resp = JSONResponse(
                {"error": "unauthorized", "error_description": "Missing or invalid bearer token."},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="mcp-openstack-ops"'},
            )
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)


def add_probe_routes(mcp: MCPServer[Any], state: ServerState, *, metrics_elsewhere: bool = False) -> None:
    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @mcp.custom_route("/readyz", methods=["GET"])
    async def readyz(_: Request) -> Response:
        ctx = state.context
        if ctx is None:
            return JSONResponse({"ready": False, "reason": "starting"}, status_code=503)
        report = await ctx.serving_readiness()  # every served cloud (app/context.py)
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    if not metrics_elsewhere:
        @mcp.custom_route("/metrics", methods=["GET"])
        async def metrics(_: Request) -> Response:
            return await metrics_response(state)


async def metrics_response(state: ServerState) -> Response:
    ctx = state.context
    if ctx is None:
        return PlainTextResponse("", status_code=503)
    return Response(ctx.metrics.render(await ctx.snapshot_samples()), media_type=CONTENT_TYPE_LATEST)


def metrics_app(state: ServerState) -> Any:
    """The separate metrics listener (OPS_METRICS_PORT): ``/metrics`` only, no authentication."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def endpoint(_: Request) -> Response:
        return await metrics_response(state)

    return Starlette(routes=[Route("/metrics", endpoint, methods=["GET"])])


def build_http_app(mcp: MCPServer[Any], settings: Settings, state: ServerState) -> Any:
    add_probe_routes(mcp, state, metrics_elsewhere=settings.metrics_port is not None)
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp", transport_security=transport_security(settings), host=settings.host
    )
    if oauth_enabled(settings):
        def write_tools() -> set[str]:
            return {t.name for t in mcp._tool_manager.list_tools()  # noqa: SLF001 - no public accessor
                    if not getattr(t.annotations, "read_only_hint", False)}

        def refused(reason: str) -> None:
            if state.context is not None:
                state.context.metrics.http_auth_failures.inc(reason)

        return ScopeGate(app, verifier=state.extras["verifier"], settings=settings, write_tools=write_tools,
                         on_refused=refused)
    if settings.auth_enable and settings.secret_key:
        return BearerAuthMiddleware(app, settings.secret_key.get_secret_value(), state)
    return app


async def serve_http(mcp: MCPServer[Any], settings: Settings, state: ServerState,
                     sock: socket.socket | None = None, metrics_sock: socket.socket | None = None) -> None:
    """Serve on ``sock`` (from :func:`bind_socket`; bound here if not given), and ``/metrics`` on
    ``metrics_sock`` when OPS_METRICS_PORT is set (bound here if not given)."""
    import asyncio
    import contextlib

    import uvicorn

    check_bind_policy(settings)
    sock = sock if sock is not None else bind_socket(settings)
    if settings.metrics_port is not None and metrics_sock is None:
        metrics_sock = bind_socket(settings, metrics=True)
    app = build_http_app(mcp, settings, state)
    # Idle keep-alive connections stay open longer than clients keep them (httpx: 5 s): a server that
    # closes one first races a client reusing it (a reset request; seen in the soak under load).
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                            access_log=False, log_config=None, timeout_keep_alive=KEEP_ALIVE_SECONDS)
    server = uvicorn.Server(config)
    state.uvicorn = server
    side: asyncio.Task[None] | None = None
    try:
        if metrics_sock is not None:
            mconfig = uvicorn.Config(metrics_app(state), log_level=settings.log_level.lower(), access_log=False,
                                     log_config=None, lifespan="off")
            msrv = uvicorn.Server(mconfig)
            # Signals belong to the main server; this one stops when it does.
            msrv.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
            state.extras["metrics_server"] = msrv
            side = asyncio.create_task(msrv.serve(sockets=[metrics_sock]))
        await server.serve(sockets=[sock])
    finally:
        if side is not None:
            state.extras["metrics_server"].should_exit = True
            await asyncio.gather(side, return_exceptions=True)
        sock.close()
        if metrics_sock is not None:
            metrics_sock.close()
