"""Who calls a tool (:class:`Caller`, from the verified token) and what that caller may do
(:func:`authorize`, the tool wrapper's check; the HTTP gate refuses writes first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from app.auth.config import auth_settings, oauth_enabled
from app.auth.projects import refusal
from app.auth.tokens import JWTVerifier
from app.errors import NotPermitted

if TYPE_CHECKING:
    from app.config import Settings


@dataclass(frozen=True)
class Caller:
    """Who an OAuth-authenticated request comes from."""

    subject: str
    scopes: frozenset[str]
    projects: tuple[str, ...] | None = None  # None: not restricted

    @property
    def principal(self) -> str:
        return f"oauth:{self.subject}"


def _caller_of_token(token: AccessToken) -> Caller:
    projects = (token.claims or {}).get("projects")
    return Caller(subject=token.subject or token.client_id, scopes=frozenset(token.scopes),
                  projects=tuple(projects) if projects is not None else None)


def caller_of_scope(scope: Any) -> Caller | None:
    user = scope.get("user") if hasattr(scope, "get") else None
    if not isinstance(user, AuthenticatedUser):
        return None
    return _caller_of_token(user.access_token)


def current_caller() -> Caller | None:
    """The OAuth caller of the request being handled, for handlers the SDK gives no context
    (completion/complete); None without one."""
    token = get_access_token()
    return _caller_of_token(token) if token is not None else None


def caller(ctx: Any) -> Caller | None:
    """The OAuth caller of a tool call (None on stdio, in-process, or with the static token)."""
    try:
        request = ctx.request_context.request
    except (AttributeError, LookupError, RuntimeError, ValueError):
        return None
    scope = getattr(request, "scope", None)
    return caller_of_scope(scope) if scope is not None else None


def authorize(ctx: Any, tool: str, read_only: bool) -> Caller | None:
    """Inside a tool call: refuse what the caller's token does not allow (the HTTP gate refuses a write
    first; this holds for any path that reaches the tool), and return the OAuth caller (None without
    one). A project-restricted caller may call only the tools that answer for its projects
    (app/auth/projects.py); the tool layer then binds its projects to the call's view."""
    who = caller(ctx)
    if who is None:
        return None
    settings = ctx.request_context.lifespan_context.settings
    if settings.oauth_read_scope not in who.scopes:
        raise NotPermitted(f"{tool} needs the scope {settings.oauth_read_scope}, which this token does not carry.")
    if not read_only and settings.oauth_write_scope not in who.scopes:
        raise NotPermitted(f"{tool} changes the cloud and needs the scope {settings.oauth_write_scope}, which this "
                           "token does not carry (it can call the read tools only).")
    if who.projects is not None:
        why = refusal(tool, settings.oauth_projects_claim)
        if why is not None:
            raise NotPermitted(why)
    return who


def server_kwargs(settings: Settings, state: Any) -> dict[str, Any]:
    """``MCPServer(...)`` keyword arguments for OAuth mode (none otherwise); the verifier is kept in
    ``state.extras`` for the HTTP gate."""
    if not oauth_enabled(settings):
        return {}
    verifier = JWTVerifier(settings)
    state.extras["verifier"] = verifier
    return {"auth": auth_settings(settings), "token_verifier": verifier}
