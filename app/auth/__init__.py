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
:class:`Caller.projects`; the tools of :mod:`app.auth.projects` answer over those projects only (the
call's view carries them, app/services/scope.py), every other tool is refused to such a caller, and
resource reads and completions keep to them too (app/mcp_resources.py). See docs/deploy.md.
"""

from __future__ import annotations

from app.auth.callers import Caller, authorize, caller, caller_of_scope, current_caller, server_kwargs
from app.auth.config import auth_settings, check_oauth_settings, oauth_enabled, resource_metadata_url
from app.auth.gate import ScopeGate
from app.auth.tokens import JWKSCache, JWTVerifier

__all__ = ["Caller", "JWKSCache", "JWTVerifier", "ScopeGate", "auth_settings", "authorize", "caller",
           "caller_of_scope", "check_oauth_settings", "current_caller", "oauth_enabled", "resource_metadata_url", "server_kwargs"]
