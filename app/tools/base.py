"""What every tool shares: registration with honest annotations, metrics, and the one translation of
domain errors (:mod:`app.errors`) into MCP ``ToolError`` with the same actionable message."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from app.errors import OpsError

if TYPE_CHECKING:
    from app.context import AppContext

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def app_context(ctx: Context) -> AppContext:
    """The lifespan's :class:`AppContext` from a tool's ``Context``."""
    return ctx.request_context.lifespan_context  # type: ignore[no-any-return]


def principal(ctx: Context) -> str:
    """Who is calling: ``stdio``/``in-process``, or ``bearer:<hash prefix>`` over authenticated HTTP
    (the token itself is never recorded)."""
    headers = None
    try:
        headers = ctx.headers
    except (AttributeError, LookupError, RuntimeError):
        headers = None
    if not headers:
        return "local"
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        digest = hashlib.sha256(auth[7:].strip().encode()).hexdigest()[:12]
        return f"bearer:{digest}"
    return "http-anonymous"


def register_tool(
    mcp: MCPServer[Any],
    fn: F,
    *,
    title: str,
    read_only: bool = True,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = False,
) -> F:
    """Register ``fn`` (an async function whose parameters include ``ctx: Context``) as a tool named
    after it. Domain errors become ``ToolError``; every call is counted and timed."""
    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        metrics = getattr(app_context(ctx), "metrics", None) if ctx is not None else None
        t0 = time.perf_counter()
        outcome = "ok"
        try:
            return await fn(*args, **kwargs)
        except OpsError as e:
            outcome = type(e).__name__
            raise ToolError(e.message) from e
        except ToolError:
            outcome = "ToolError"
            raise
        finally:
            if metrics is not None:
                metrics.tool_calls.inc(name, outcome)
                metrics.tool_latency.observe(time.perf_counter() - t0, name)

    annotations = ToolAnnotations(
        title=title,
        readOnlyHint=read_only,
        destructiveHint=destructive if not read_only else False,
        idempotentHint=idempotent,
        openWorldHint=open_world,
    )
    mcp.add_tool(wrapper, name=name, title=title, annotations=annotations)
    return fn
