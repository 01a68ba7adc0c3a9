"""The simulator's ASGI app: every service mounted under one port, plus the middleware that applies
the knobs (latency, fault injection) and checks Keystone tokens on every non-public path."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from app.simulator.web import SimHTTPError, error_response

if TYPE_CHECKING:
    from app.simulator.core import Simulator


def _style_for(path: str) -> str:
    for prefix, style in (
        ("/identity", "identity"), ("/network", "network"), ("/image", "image"),
        ("/heat-api", "orchestration"), ("/placement", "placement"), ("/load-balancer", "load-balancer"),
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
            writes = method not in ("GET", "HEAD")  # handlers change records in place: memos start over
            if writes:
                sim.state.touch()
            try:
                if truncate:
                    # after the token check: the handler needs ``state.token`` like any other request
                    await _truncated(self.app, scope, receive, send)
                else:
                    await self.app(scope, receive, send)
            except SimHTTPError as e:
                await error_response(e.status, e.message, _style_for(path), e.headers)(scope, receive, send)
            finally:
                if writes:  # and after: a memo computed while the handler awaited saw half of its change
                    sim.state.touch()

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
