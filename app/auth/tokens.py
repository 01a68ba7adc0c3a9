"""Verifying JWT access tokens: the issuer's signing keys (:class:`JWKSCache`) and the SDK's
``TokenVerifier`` (:class:`JWTVerifier`). Tokens are never logged; refusals log the reason only."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from mcp.server.auth.provider import AccessToken

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)

MIN_REFETCH_SECONDS = 30.0  # an unknown kid refetches the JWKS at most this often
MAX_JWKS_BYTES = 1024 * 1024


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
