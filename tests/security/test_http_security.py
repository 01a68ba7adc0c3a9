"""HTTP hardening of ``serve --type streamable-http`` beyond tests/transport (which covers no/wrong
token, token in the query string and the refused public bind): DNS-rebinding Host/Origin checks,
oversized bodies, Authorization header variants, open probes; and a non-loopback configuration with
OPS_ALLOWED_HOSTS, exercised in-process (binding a non-loopback address is not allowed here)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.crash.procs import serve, server_env

TOKEN = "sec-token-0123456789abcdefXYZ"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("sec")
    sim_server = SimulatorServer(Simulator(servers=10, seed=41, transition_seconds=0.2))
    sim = sim_server.start()
    env = server_env(sim, tmp / "sec.db", REMOTE_SECRET_KEY=TOKEN, OPS_POLL_INTERVAL="600",
                     OPS_COLD_START_WAIT="0")
    try:
        with serve(env, "--auth-enable", log=tmp / "server.log") as (proc, base):
            port = base.rsplit(":", 1)[1]
            yield {"base": base, "proc": proc, "port": port, "log": tmp / "server.log"}
    finally:
        sim_server.stop()


def raw_status(port: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    """Status of a request sent byte for byte (httpx refuses header values with trailing whitespace)."""
    import socket

    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def post_init(base: str, **headers: str) -> httpx.Response:
    return httpx.post(base + "/mcp", json=INIT, headers={**MCP_HEADERS, **AUTH, **headers}, timeout=10)


def test_host_header_is_checked(server: dict[str, Any]) -> None:
    base, port = server["base"], server["port"]
    assert post_init(base, Host="evil.example").status_code == 421
    assert post_init(base, Host=f"evil.example:{port}").status_code == 421
    assert post_init(base, Host=f"127.0.0.1.evil.example:{port}").status_code == 421
    assert post_init(base, Host=f"localhost:{port}").status_code == 200
    assert post_init(base, Host=f"127.0.0.1:{port}").status_code == 200


def test_origin_header_is_checked(server: dict[str, Any]) -> None:
    base, port = server["base"], server["port"]
    assert post_init(base, Origin="http://evil.example").status_code == 403
    assert post_init(base, Origin=f"http://evil.example:{port}").status_code == 403
    assert post_init(base, Origin="null").status_code == 403
    assert post_init(base, Origin=f"http://127.0.0.1:{port}").status_code == 200


def test_oversized_body_is_rejected_and_the_server_lives_on(server: dict[str, Any]) -> None:
    base = server["base"]
    big = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"' + b"x" * (4 * 1024 * 1024 + 10) + b'"}}'
    r = httpx.post(base + "/mcp", content=big, headers={**MCP_HEADERS, **AUTH}, timeout=30)
    assert r.status_code == 413
    # without a token the body is never read at all
    r = httpx.post(base + "/mcp", content=big, headers=MCP_HEADERS, timeout=30)
    assert r.status_code == 401
    assert server["proc"].poll() is None
    assert httpx.get(base + "/healthz", timeout=5).status_code == 200
    assert post_init(base).status_code == 200


@pytest.mark.parametrize("value,accepted", [
    (f"Bearer {TOKEN}", True),
    (f"bearer {TOKEN}", True),     # the auth scheme is case-insensitive (RFC 7235)
    (f"BEARER {TOKEN}", True),
    (f"Bearer {TOKEN} ", True),    # trailing whitespace is not part of a header value
    (f"Bearer {TOKEN.upper()}", False),
    (f"Bearer {TOKEN[:-1]}", False),
    (f"Bearer {TOKEN}x", False),
    (f"Bearer {TOKEN} {TOKEN}", False),
    (f"Bearer\t{TOKEN}", False),
    (TOKEN, False),
    (f"Token {TOKEN}", False),
    ("Bearer", False),
    ("Bearer ", False),
    (f"Basic {base64.b64encode(f'admin:{TOKEN}'.encode()).decode()}", False),
    (f"Basic {base64.b64encode(f'{TOKEN}:'.encode()).decode()}", False),
    (f"Basic {TOKEN}", False),
])
def test_authorization_header_variants(server: dict[str, Any], value: str, accepted: bool) -> None:
    import json

    port = server["port"]
    status = raw_status(port, "POST", "/mcp", {**MCP_HEADERS, "Authorization": value}, json.dumps(INIT).encode())
    assert status == (200 if accepted else 401), (value, status)
    assert raw_status(port, "GET", "/metrics", {"Authorization": value}) == (200 if accepted else 401), value


def test_probes_are_open_and_say_nothing_secret(server: dict[str, Any]) -> None:
    base = server["base"]
    h = httpx.get(base + "/healthz", timeout=5)
    assert h.status_code == 200 and h.json() == {"status": "ok"}
    r = httpx.get(base + "/readyz", timeout=5)
    assert r.status_code in (200, 503) and "ready" in r.json()
    assert TOKEN not in h.text + r.text
    # only GET on the probes; other paths stay behind auth
    for path in ("/metrics", "/mcp", "/", "/healthz/../metrics", "/admin"):
        assert httpx.get(base + path, timeout=5).status_code == 401, path
    assert server["proc"].poll() is None
    assert TOKEN not in Path(server["log"]).read_text(errors="replace"), "the token must never be logged"


def test_non_loopback_bind_serves_only_allowed_hosts(make_sim: Any, tmp_path: Path) -> None:
    """What a 0.0.0.0 bind with auth and OPS_ALLOWED_HOSTS serves (the ASGI app the server builds for
    that configuration, driven in-process: nothing here binds a non-loopback address)."""
    from starlette.testclient import TestClient

    from app.context import open_app_context
    from app.http import build_http_app, check_bind_policy
    from app.server import build_server
    from tests.tools.conftest import make_settings

    sim = make_sim(servers=5)
    settings = make_settings(tmp_path / "nl.db", host="0.0.0.0", auth_enable=True, secret_key=TOKEN,
                             allowed_hosts="ops.example.com:8443,ops.internal")
    check_bind_policy(settings)  # allowed: auth is on
    mcp, state = build_server(settings, context_factory=lambda s: open_app_context(s, **sim.connect_kwargs()))
    app = build_http_app(mcp, settings, state)
    with TestClient(app, base_url="http://ops.example.com:8443") as tc:
        def post(**headers: str) -> int:
            return tc.post("/mcp", json=INIT, headers={**MCP_HEADERS, **AUTH, **headers}).status_code

        assert post() == 200
        assert post(Host="ops.internal") == 200
        assert post(Origin="https://ops.example.com:8443") == 200
        assert post(Host="evil.example") == 421
        assert post(Host="127.0.0.1:8443") == 421, "loopback names are not implicitly allowed on a remote bind"
        assert post(Host="ops.example.com") == 421, "the port is part of the allowed host"
        assert post(Origin="https://evil.example") == 403
        assert tc.post("/mcp", json=INIT, headers={**MCP_HEADERS, "Host": "ops.internal"}).status_code == 401
