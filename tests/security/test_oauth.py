"""OAuth mode (OPS_OAUTH_ISSUER, app/auth/): a real server process verifying JWTs that the test
mints with an RSA key it generates, against a JWKS (and OpenID discovery document) served by a tiny
HTTP server on 127.0.0.1. Refusals are checked on the wire (status, WWW-Authenticate); the happy path
through the SDK's client, and the audit log records the token's subject."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.crash.procs import ROOT, free_port, server_env, stop
from tests.security.test_http_security import INIT, MCP_HEADERS

READ, WRITE = "openstack:read", "openstack:write"


class Issuer:
    """An authorization server as far as a resource server sees one: discovery + JWKS, and tokens."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks_fetches = 0
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/certs"}
                elif self.path.endswith("/certs"):
                    issuer.jwks_fetches += 1
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/ops"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, *, audience: str, scope: str = f"{READ} {WRITE}", sub: str = "alice-0001",
              issuer: str | None = None, expires_in: int = 300, key: Any = None, kid: str = "k1",
              **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": issuer or self.url, "aud": audience, "sub": sub, "iat": now, "exp": now + expires_in,
                   "scope": scope, "azp": "mcp-client", **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


@contextmanager
def oauth_server(tmp: Path, servers: int, db: str | Path, claim: str, *,
                 ready: bool = False) -> Iterator[dict[str, Any]]:
    """A real server process verifying JWTs of a local issuer, on a simulator of ``servers`` instances;
    ``ready``: wait until its first sync is done (/readyz)."""
    issuer = Issuer()
    sim_server = SimulatorServer(Simulator(servers=servers, seed=43, transition_seconds=0.2))
    sim = sim_server.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(sim, db, OPS_OAUTH_ISSUER=issuer.url, OPS_OAUTH_RESOURCE_URL=base + "/mcp",
                     OPS_OAUTH_PROJECTS_CLAIM=claim, ALLOW_MODIFY_OPERATIONS="true",
                     OPS_POLL_INTERVAL="600", OPS_COLD_START_WAIT="0", MCP_LOG_LEVEL="INFO")
    log = tmp / "server.log"
    proc = start(env, port, log)
    try:
        deadline = time.monotonic() + 120
        while ready and httpx.get(base + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield {"base": base, "issuer": issuer, "aud": base + "/mcp", "db": db, "log": log}
    finally:
        stop(proc)
        sim_server.stop()
        issuer.close()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("oauth")
    with oauth_server(tmp, 5, tmp / "oauth.db", "openstack_projects") as o:
        yield o


def metadata_url(o: dict[str, Any]) -> str:
    return o["base"] + "/.well-known/oauth-protected-resource/mcp"


def post(o: dict[str, Any], token: str | None, body: Any = INIT, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(o["base"] + "/mcp", json=body, headers={**MCP_HEADERS, **auth, **headers}, timeout=30)


def www_auth(resp: httpx.Response) -> str:
    return resp.headers.get("WWW-Authenticate", "")


def test_protected_resource_metadata(oauth: dict[str, Any]) -> None:
    r = httpx.get(metadata_url(oauth), timeout=10)
    assert r.status_code == 200
    doc = r.json()
    assert doc["resource"] == oauth["aud"]
    assert doc["authorization_servers"] == [oauth["issuer"].url]
    assert READ in doc["scopes_supported"]


def test_no_token_is_401_pointing_to_the_metadata(oauth: dict[str, Any]) -> None:
    r = post(oauth, None)
    assert r.status_code == 401
    assert www_auth(r).startswith("Bearer ") and f'resource_metadata="{metadata_url(oauth)}"' in www_auth(r)


@pytest.mark.parametrize("case", ["expired", "wrong audience", "wrong issuer", "bad signature", "unknown kid",
                                  "HS256 with the public key", "garbage"])
def test_invalid_tokens_are_401(oauth: dict[str, Any], case: str) -> None:
    iss: Issuer = oauth["issuer"]
    aud = oauth["aud"]
    token = {
        "expired": lambda: iss.token(audience=aud, expires_in=-3600),
        "wrong audience": lambda: iss.token(audience="https://another-service.example/mcp"),
        "wrong issuer": lambda: iss.token(audience=aud, issuer="https://evil.example/realms/ops"),
        "bad signature": lambda: iss.token(audience=aud, key=iss.other),
        "unknown kid": lambda: iss.token(audience=aud, key=iss.other, kid="k2"),
        "HS256 with the public key": lambda: jwt.encode(
            {"iss": iss.url, "aud": aud, "sub": "x", "exp": int(time.time()) + 300, "scope": READ},
            "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256", headers={"kid": "k1"}),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    r = post(oauth, token)
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in www_auth(r) and f'resource_metadata="{metadata_url(oauth)}"' in www_auth(r)
    assert token not in oauth["log"].read_text()  # tokens are never logged


def test_missing_read_scope_is_403(oauth: dict[str, Any]) -> None:
    r = post(oauth, oauth["issuer"].token(audience=oauth["aud"], scope="profile email"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www_auth(r) and f'scope="{READ}"' in www_auth(r)


def _session(oauth: dict[str, Any], token: str) -> dict[str, str]:
    r = post(oauth, token)
    assert r.status_code == 200, r.text
    hdrs = {"mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    assert post(oauth, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **hdrs).status_code == 202
    return hdrs


def test_read_scope_cannot_call_manage_tools(oauth: dict[str, Any]) -> None:
    token = oauth["issuer"].token(audience=oauth["aud"], scope=READ, sub="reader-7")
    hdrs = _session(oauth, token)
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "manage_keypair", "arguments": {"action": "list", "keypair_name": ""}}}
    r = post(oauth, token, call, **hdrs)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www_auth(r) and f'scope="{READ} {WRITE}"' in www_auth(r)
    assert f'resource_metadata="{metadata_url(oauth)}"' in www_auth(r)
    # in a batch too
    r = post(oauth, token, [call], **hdrs)
    assert r.status_code == 403
    # while its read tools work
    ok = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
          "params": {"name": "get_sync_status", "arguments": {"kind": "flavors"}}}
    r = post(oauth, token, ok, **hdrs)
    assert r.status_code == 200 and '"isError":false' in r.text.replace(" ", ""), r.text[:500]


async def test_write_scope_calls_manage_tools_and_the_audit_log_names_the_subject(oauth: dict[str, Any]) -> None:
    token = oauth["issuer"].token(audience=oauth["aud"], sub="ops-admin-42")
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as hc:
        async with Client(streamable_http_client(oauth["aud"], http_client=hc)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "manage_keypair" in names
            result = await client.call_tool("manage_keypair", {"action": "import", "keypair_name": "oauth-audit",
                                                               "public_key": pub})
            assert not result.is_error, result.content
            log = await client.call_tool("get_operation_log", {"tool": "manage_keypair"})
            assert not log.is_error, log.content
    text = json.dumps(log.structured_content)
    assert "oauth:ops-admin-42" in text
    assert token not in text and token not in oauth["log"].read_text()


async def test_project_restricted_caller_gets_its_projects_and_a_reason_elsewhere(oauth: dict[str, Any]) -> None:
    token = oauth["issuer"].token(audience=oauth["aud"], scope=READ, openstack_projects=["web"])
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as hc:
        async with Client(streamable_http_client(oauth["aud"], http_client=hc)) as client:
            refused = await client.call_tool("get_sync_status", {"kind": "flavors"})
            listed = await client.call_tool("get_project_list", {})
    assert refused.is_error
    assert "restricts its caller to projects (openstack_projects)" in refused.content[0].text  # type: ignore[union-attr]
    assert not listed.is_error, listed.content
    assert [p["name"] for p in listed.structured_content["projects"]] == ["web"]


def test_metrics_on_the_mcp_port_need_a_read_token(oauth: dict[str, Any]) -> None:
    r = httpx.get(oauth["base"] + "/metrics", timeout=10)
    assert r.status_code == 401 and f'resource_metadata="{metadata_url(oauth)}"' in www_auth(r)
    token = oauth["issuer"].token(audience=oauth["aud"], scope=READ)
    r = httpx.get(oauth["base"] + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and "mcp_openstack_ops_http_auth_failures_total" in r.text


def test_jwks_fetched_once_and_cached(oauth: dict[str, Any]) -> None:
    iss: Issuer = oauth["issuer"]
    before = iss.jwks_fetches
    for _ in range(3):
        assert post(oauth, iss.token(audience=oauth["aud"])).status_code == 200
    assert iss.jwks_fetches == before
    assert iss.jwks_fetches >= 1


def test_unreachable_jwks_refuses_with_one_log_line(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    sim_server = SimulatorServer(Simulator(servers=2, seed=44))
    sim = sim_server.start()
    issuer = Issuer()
    port = free_port()
    env = server_env(sim, tmp_path / "dead.db", OPS_OAUTH_ISSUER=issuer.url,
                     OPS_OAUTH_RESOURCE_URL=f"http://127.0.0.1:{port}/mcp",
                     OPS_OAUTH_JWKS_URL=f"http://127.0.0.1:{dead}/certs", OPS_OAUTH_HTTP_TIMEOUT="2",
                     OPS_POLL_INTERVAL="600")
    log = tmp_path / "server.log"
    proc = start(env, port, log)
    try:
        o = {"base": f"http://127.0.0.1:{port}"}
        for _ in range(3):
            token = issuer.token(audience=f"http://127.0.0.1:{port}/mcp")
            r = post(o, token)
            assert r.status_code == 401
    finally:
        stop(proc)
        sim_server.stop()
        issuer.close()
    lines = [line for line in log.read_text().splitlines() if "OAuth signing keys" in line]
    assert len(lines) == 1, log.read_text()[-3000:]
    assert f"http://127.0.0.1:{dead}/certs" in lines[0] and "tokens are refused" in lines[0]


def test_static_token_and_oauth_together_are_refused(tmp_path: Path) -> None:
    from app.config import Settings
    from app.errors import InvalidArgument
    from app.http import check_bind_policy

    with pytest.raises(InvalidArgument, match="choose one"):
        check_bind_policy(Settings(OPS_OAUTH_ISSUER="https://kc.example/realms/ops",
                                   OPS_OAUTH_RESOURCE_URL="https://mcp.example/mcp", REMOTE_AUTH_ENABLE=True,
                                   REMOTE_SECRET_KEY="x" * 32))
    with pytest.raises(InvalidArgument, match="OPS_OAUTH_RESOURCE_URL"):
        check_bind_policy(Settings(OPS_OAUTH_ISSUER="https://kc.example/realms/ops"))
    with pytest.raises(InvalidArgument, match="asymmetric"):
        check_bind_policy(Settings(OPS_OAUTH_ISSUER="https://kc.example/realms/ops",
                                   OPS_OAUTH_RESOURCE_URL="https://mcp.example/mcp", OPS_OAUTH_ALGORITHMS="HS256"))
    # OAuth counts as authentication for a non-loopback bind
    check_bind_policy(Settings(OPS_OAUTH_ISSUER="https://kc.example/realms/ops", FASTMCP_HOST="0.0.0.0",
                               OPS_OAUTH_RESOURCE_URL="https://mcp.example/mcp"))
