"""Per-caller identity over HTTP: the MCP authorization spec's resource-server side (OAuth 2.1, RFC 9728).

With ``OPS_OAUTH_ISSUER`` set, ``/mcp`` accepts JWT access tokens from that authorization server
(Keycloak, ...) instead of the static token. The SDK does the protocol parts (``AuthSettings`` +
``TokenVerifier``): ``/.well-known/oauth-protected-resource/mcp`` and a 401 whose ``WWW-Authenticate``
names it. This module supplies:

- :class:`JWKSCache`: the issuer's signing keys, fetched (JWKS URL given, or discovered from
  ``<issuer>/.well-known/openid-configuration``) with a bounded timeout, reused for
  ``OPS_OAUTH_JWKS_CACHE_SECONDS``, refetched early (at most every 30 s) for an unknown ``kid``
  (key rotation). A fetch failure refuses tokens and logs one line.
- :class:`JWTVerifier`: signature (asymmetric algorithms only), ``iss``, ``aud``, ``exp``/``nbf``
  with leeway, ``sub`` required; scopes from ``scope`` (space-separated) or ``scp`` (list).
- :class:`ScopeGate`: the HTTP side of the capabilities: a ``tools/call`` of a tool that is not
  read-only needs the write scope (403 ``insufficient_scope`` naming it, before the call reaches the
  session), and ``/metrics`` on the MCP port needs a valid token with the read scope.
- :func:`authorize` / :func:`caller`: the same rules inside the tool wrapper (defence in depth), and
  who is calling for the audit log (``oauth:<sub>``).

Tokens are never logged; refusals log the reason only.

Project restriction (``OPS_OAUTH_PROJECTS_CLAIM``): the caller's projects are read into
:class:`Caller.projects`, but the read tools cannot yet filter by project, so a restricted caller is
refused every tool (fail closed). See docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from app.errors import InvalidArgument, NotPermitted

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)

MIN_REFETCH_SECONDS = 30.0  # an unknown kid refetches the JWKS at most this often
MAX_JWKS_BYTES = 1024 * 1024
MAX_BODY_PEEK = 4 * 1024 * 1024  # the SDK's request body cap; larger bodies are refused by it anyway
ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


def oauth_enabled(settings: Settings) -> bool:
    return bool(settings.oauth_issuer)


def check_oauth_settings(settings: Settings) -> None:
    """Refuse an incoherent OAuth configuration at start-up (InvalidArgument saying what to set)."""
    if not oauth_enabled(settings):
        return
    if settings.auth_enable:
        raise InvalidArgument("OPS_OAUTH_ISSUER and REMOTE_AUTH_ENABLE are both set: choose one HTTP "
                              "authentication (JWTs from the issuer, or the static bearer token).")
    if not settings.oauth_resource_url:
        raise InvalidArgument("OPS_OAUTH_ISSUER is set but OPS_OAUTH_RESOURCE_URL is not: set it to this "
                              "server's public MCP URL, e.g. https://mcp.example.com/mcp.")
    bad = sorted(set(settings.oauth_algorithms) - ASYMMETRIC)
    if bad or not settings.oauth_algorithms:
        raise InvalidArgument(f"OPS_OAUTH_ALGORITHMS may list only asymmetric algorithms "
                              f"({', '.join(sorted(ASYMMETRIC))}); got {', '.join(bad) or 'none'}.")
    for name in ("oauth_issuer", "oauth_resource_url", "oauth_jwks_url"):
        value = getattr(settings, name)
        if value and not value.startswith(("https://", "http://")):
            raise InvalidArgument(f"{name.upper().replace('OAUTH_', 'OPS_OAUTH_')} must be an http(s) URL.")


def auth_settings(settings: Settings) -> AuthSettings:
    return AuthSettings(
        issuer_url=AnyHttpUrl(settings.oauth_issuer or ""),
        resource_server_url=AnyHttpUrl(settings.oauth_resource_url or ""),
        required_scopes=[settings.oauth_read_scope],
        validate_token_resource=False,  # JWTVerifier checks the audience itself
    )


def resource_metadata_url(settings: Settings) -> str:
    return str(build_resource_metadata_url(AnyHttpUrl(settings.oauth_resource_url or "")))


# ---------------------------------------------------------------------------------------------------
# keys


class JWKSCache:
    """The issuer's signing keys by ``kid``."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer = (settings.oauth_issuer or "").rstrip("/")
        self.jwks_url = settings.oauth_jwks_url
        self.ttl = settings.oauth_jwks_cache_seconds
        self.timeout = settings.oauth_http_timeout
        self._transport = transport
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._failing = False

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        fresh = self._fetched_at is not None and now - self._fetched_at < self.ttl
        if fresh and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            now = time.monotonic()
            fresh = self._fetched_at is not None and now - self._fetched_at < self.ttl
            recently = self._attempted_at is not None and now - self._attempted_at < MIN_REFETCH_SECONDS
            if not fresh or (kid not in self._keys and not recently):
                await self._refresh()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport,
                                         follow_redirects=False) as client:
                url = self.jwks_url or await self._discover(client)
                doc = await self._get_json(client, url)
                keys: dict[str | None, jwt.PyJWK] = {}
                for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
                    if jwk.get("use", "sig") != "sig":
                        continue
                    try:
                        keys[jwk.get("kid")] = jwt.PyJWK(jwk)
                    except (jwt.PyJWKError, jwt.InvalidKeyError):
                        continue  # a key type or algorithm this build cannot use
                if not keys:
                    raise ValueError("it holds no usable signing key")
        except (httpx.HTTPError, ValueError) as e:
            if not self._failing:  # one line per outage, not one per request
                log.warning("cannot fetch the OAuth signing keys (%s): %s; tokens are refused until it works",
                            self.jwks_url or self.issuer + "/.well-known/openid-configuration", _reason(e))
            self._failing = True
            return
        if self._failing:
            log.warning("OAuth signing keys fetched again from %s", url)
        self._failing = False
        self._keys = keys
        self._fetched_at = time.monotonic()
        if self.jwks_url is None:
            self.jwks_url = url

    async def _discover(self, client: httpx.AsyncClient) -> str:
        doc = await self._get_json(client, self.issuer + "/.well-known/openid-configuration")
        url = doc.get("jwks_uri") if isinstance(doc, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError("the issuer's openid-configuration has no jwks_uri; set OPS_OAUTH_JWKS_URL")
        return url

    @staticmethod
    async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
        resp = await client.get(url, headers={"Accept": "application/json"})
        if resp.status_code != 200:
            raise ValueError(f"GET {url} answered HTTP {resp.status_code}")
        if len(resp.content) > MAX_JWKS_BYTES:
            raise ValueError(f"GET {url} answered more than {MAX_JWKS_BYTES} bytes")
        try:
            return json.loads(resp.content)
        except json.JSONDecodeError:
            raise ValueError(f"GET {url} did not answer JSON") from None


def _reason(e: BaseException) -> str:
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.HTTPError):
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return str(e)


# ---------------------------------------------------------------------------------------------------
# tokens


class JWTVerifier:
    """The SDK's ``TokenVerifier`` for JWT access tokens of one issuer."""

    def __init__(self, settings: Settings, *, keys: JWKSCache | None = None) -> None:
        self.settings = settings
        self.keys = keys or JWKSCache(settings)
        self.issuer = settings.oauth_issuer
        self.audience = settings.oauth_audience or settings.oauth_resource_url
        self.algorithms = list(settings.oauth_algorithms)
        self.projects_claim = settings.oauth_projects_claim

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in self.algorithms:
                raise jwt.InvalidAlgorithmError(f"algorithm {alg!r} is not accepted")
            key = await self.keys.key(header.get("kid"))
            if key is None:
                raise jwt.InvalidKeyError("no signing key with this kid (or the keys cannot be fetched)")
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=self.settings.oauth_leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as e:
            log.info("bearer token refused: %s", _jwt_reason(e))
            return None
        scopes = _scopes(claims)
        extra: dict[str, Any] = {"iss": claims.get("iss")}
        if self.projects_claim and self.projects_claim in claims:
            extra["projects"] = _projects(claims[self.projects_claim])
        return AccessToken(
            token=token, client_id=str(claims.get("azp") or claims.get("client_id") or claims["sub"]),
            scopes=scopes, expires_at=int(claims["exp"]), subject=str(claims["sub"]), claims=extra,
        )


def _jwt_reason(e: BaseException) -> str:
    names = {jwt.ExpiredSignatureError: "expired", jwt.InvalidAudienceError: "wrong audience",
             jwt.InvalidIssuerError: "wrong issuer", jwt.InvalidSignatureError: "bad signature",
             jwt.ImmatureSignatureError: "not valid yet", jwt.MissingRequiredClaimError: "missing claim",
             jwt.DecodeError: "malformed"}
    for cls, name in names.items():
        if isinstance(e, cls):
            return f"{name} ({e})" if name in ("missing claim",) else name
    return str(e) or type(e).__name__


def _scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [str(s) for s in raw]
    return []


def _projects(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [p for p in raw.replace(",", " ").split() if p]
    if isinstance(raw, list):
        return [str(p) for p in raw]
    return [str(raw)]


# ---------------------------------------------------------------------------------------------------
# callers


@dataclass(frozen=True)
class Caller:
    """Who an OAuth-authenticated request comes from."""

    subject: str
    scopes: frozenset[str]
    projects: tuple[str, ...] | None = None  # None: not restricted

    @property
    def principal(self) -> str:
        return f"oauth:{self.subject}"


def caller_of_scope(scope: Any) -> Caller | None:
    user = scope.get("user") if hasattr(scope, "get") else None
    if not isinstance(user, AuthenticatedUser):
        return None
    token = user.access_token
    projects = (token.claims or {}).get("projects")
    return Caller(subject=token.subject or token.client_id, scopes=frozenset(token.scopes),
                  projects=tuple(projects) if projects is not None else None)


def caller(ctx: Any) -> Caller | None:
    """The OAuth caller of a tool call (None on stdio, in-process, or with the static token)."""
    try:
        request = ctx.request_context.request
    except (AttributeError, LookupError, RuntimeError, ValueError):
        return None
    scope = getattr(request, "scope", None)
    return caller_of_scope(scope) if scope is not None else None


def authorize(ctx: Any, tool: str, read_only: bool) -> None:
    """Inside a tool call: refuse what the caller's token does not allow (the HTTP gate refuses a write
    first; this holds for any path that reaches the tool). No-op without an OAuth caller."""
    who = caller(ctx)
    if who is None:
        return
    settings = ctx.request_context.lifespan_context.settings
    if settings.oauth_read_scope not in who.scopes:
        raise NotPermitted(f"{tool} needs the scope {settings.oauth_read_scope}, which this token does not carry.")
    if not read_only and settings.oauth_write_scope not in who.scopes:
        raise NotPermitted(f"{tool} changes the cloud and needs the scope {settings.oauth_write_scope}, which this "
                           "token does not carry (it can call the read tools only).")
    if who.projects is not None:
        raise NotPermitted(
            f"This token restricts its caller to projects ({settings.oauth_projects_claim}), and project-scoped "
            "answers are not implemented yet: every tool is refused to restricted callers rather than showing "
            "them other projects. Use a token without that claim, or ask the operator.")


def server_kwargs(settings: Settings, state: Any) -> dict[str, Any]:
    """``MCPServer(...)`` keyword arguments for OAuth mode (none otherwise); the verifier is kept in
    ``state.extras`` for the HTTP gate."""
    if not oauth_enabled(settings):
        return {}
    verifier = JWTVerifier(settings)
    state.extras["verifier"] = verifier
    return {"auth": auth_settings(settings), "token_verifier": verifier}


# ---------------------------------------------------------------------------------------------------
# HTTP


class ScopeGate:
    """ASGI middleware in front of the SDK's app (OAuth mode): a ``tools/call`` of a tool that is not
    read-only needs the write scope, answered ``403 insufficient_scope`` (RFC 6750 §3.1) naming the
    scopes needed, and ``/metrics`` needs a valid token with the read scope. Everything else passes to
    the SDK, whose own middleware verifies the token and answers 401 with the metadata URL."""

    def __init__(self, app: Any, *, verifier: JWTVerifier, settings: Settings, write_tools: Any,
                 on_refused: Any = None) -> None:
        self.app = app
        self.verifier = verifier
        self.settings = settings
        self.write_tools = write_tools  # () -> set of tool names that are not read-only
        self.metadata_url = resource_metadata_url(settings)
        self.on_refused = on_refused

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        is_mcp = path.rstrip("/") == "/mcp"
        if path != "/metrics" and not is_mcp:
            await self.app(scope, receive, send)
            return
        raw = _bearer(scope)
        token = await self.verifier.verify_token(raw) if raw else None
        if token is None:
            if is_mcp:  # the SDK answers 401 with the metadata URL; counted here
                self._count("invalid" if raw else "missing")
                await self.app(scope, receive, send)
            else:
                await self._refuse(send, 401, "invalid_token", "Authentication required",
                                   reason="invalid" if raw else "missing")
            return
        if self.settings.oauth_read_scope not in token.scopes:
            await self._insufficient(send, [self.settings.oauth_read_scope])
            return
        if not is_mcp or scope.get("method") != "POST" or self.settings.oauth_write_scope in token.scopes:
            await self.app(scope, receive, send)
            return
        body, more = await _peek(receive)
        if not more and _called_tools(body) & self.write_tools():
            await self._insufficient(send, [self.settings.oauth_read_scope, self.settings.oauth_write_scope])
            return
        await self.app(scope, _replayer(body, receive), send)

    def _count(self, reason: str) -> None:
        if self.on_refused is not None:
            self.on_refused(reason)

    async def _insufficient(self, send: Any, scopes: list[str]) -> None:
        await self._refuse(send, 403, "insufficient_scope", f"Required scope: {' '.join(scopes)}",
                           scope=" ".join(scopes), reason="insufficient_scope")

    async def _refuse(self, send: Any, status: int, error: str, description: str, *, scope: str | None = None,
                      reason: str) -> None:
        self._count(reason)
        parts = [f'error="{error}"', f'error_description="{description}"']
        if scope:
            parts.append(f'scope="{scope}"')
        parts.append(f'resource_metadata="{self.metadata_url}"')
        body = json.dumps({"error": error, "error_description": description}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", ("Bearer " + ", ".join(parts)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _bearer(scope: Any) -> str:
    for k, v in scope.get("headers", []):
        if k == b"authorization" and v[:7].lower() == b"bearer ":
            return v[7:].strip().decode("latin-1")
    return ""


async def _peek(receive: Any) -> tuple[list[Any], bool]:
    """The request's body messages, up to MAX_BODY_PEEK bytes; ``more``: the body goes on beyond."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, False
        if size > MAX_BODY_PEEK:
            return messages, True


def _replayer(messages: list[Any], receive: Any) -> Any:
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _called_tools(messages: list[Any]) -> set[str]:
    """Names of the tools a JSON-RPC message (or batch) calls; unparsable bodies call none (the SDK
    answers them with a parse error)."""
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return set()
    out = set()
    for msg in doc if isinstance(doc, list) else [doc]:
        if isinstance(msg, dict) and msg.get("method") == "tools/call" and isinstance(msg.get("params"), dict):
            name = msg["params"].get("name")
            if isinstance(name, str):
                out.add(name)
    return out
