"""What every tool shares: registration with honest annotations, metrics, and the one translation of
domain errors (:mod:`app.errors`) into MCP ``ToolError`` with the same actionable message."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import typing
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel

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


_SCALARS = (str, int, float, bool, type(None))


def _may_hold_datetime(tp: Any, seen: set[type]) -> bool:
    if tp is datetime or tp is Any or tp is object or tp in (dict, list, tuple, set):
        return True
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return True
        seen.add(tp)
        return any(_may_hold_datetime(f.annotation, seen) for f in tp.model_fields.values())
    return any(_may_hold_datetime(a, seen) for a in typing.get_args(tp))


@functools.cache
def _datetime_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """Fields of ``cls`` whose type can hold a datetime somewhere (the rest are never walked)."""
    return tuple(name for name, f in cls.model_fields.items() if _may_hold_datetime(f.annotation, {cls}))


def utc_aware(value: Any) -> Any:
    """``value`` with every naive datetime (the snapshot stores naive UTC) made timezone-aware UTC,
    copying only what changes (cached results are never mutated).

    Output schemas publish datetimes as ``format: date-time``, which RFC 3339 defines with an offset:
    without it strict clients (the MCP Inspector validates with ajv) reject the whole result."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, BaseModel):
        update: dict[str, Any] = {}
        fields = value.__dict__
        for name in _datetime_fields(type(value)):
            old = fields.get(name)
            new = utc_aware(old)
            if new is not old:
                update[name] = new
        if not update:
            return value
        copy = value.model_copy()
        copy.__dict__.update(update)
        return copy
    if isinstance(value, (list, tuple)):
        items = [utc_aware(v) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return tuple(items) if isinstance(value, tuple) else items
        return value
    if isinstance(value, dict):
        changed = {k: utc_aware(v) for k, v in value.items()}
        return changed if any(changed[k] is not v for k, v in value.items()) else value
    return value


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
            return utc_aware(await fn(*args, **kwargs))
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
