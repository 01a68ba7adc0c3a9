"""The HTTP side of the capabilities in OAuth mode (:class:`ScopeGate`, ASGI middleware)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app.auth.config import resource_metadata_url
from app.auth.tokens import JWTVerifier

if TYPE_CHECKING:
    from app.config import Settings

MAX_BODY_PEEK = 4 * 1024 * 1024  # the SDK's request body cap; larger bodies are refused by it anyway


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
