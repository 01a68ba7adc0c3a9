"""OAuth mode's settings: whether it is on, start-up checks, and the SDK's ``AuthSettings``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from app.errors import InvalidArgument

if TYPE_CHECKING:
    from app.config import Settings

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
