"""What every tool shares: registration with honest annotations, metrics, the one translation of
domain errors (:mod:`app.errors`) into MCP ``ToolError`` with the same actionable message, and the
bounds on every string argument.

String arguments are checked once, here, for every tool (read and manage): :func:`register_tool`
gives each ``str`` parameter a ``maxLength`` (published in the tool's input schema) and a validator
that refuses longer text and control characters (NUL matched everything in SQLite; ``\\n`` joins
addresses in the search index) with a message saying what to send instead. Bounds come from a
:class:`TextBounds` in the parameter's ``Annotated`` metadata, else from ``DOCUMENT_BOUNDS`` by
parameter name (templates, keys: multi-line, larger), else ``DEFAULT_BOUNDS``. Error messages quote
at most a short prefix of what was sent (:func:`clip`)."""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import json
import logging
import re
import time
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar, Union

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field

from sqlalchemy.exc import OperationalError

from app.auth import authorize
from app.auth import caller as oauth_caller
from app.context import AppContext
from app.db.engine import is_lock_timeout
from app.errors import OpsError
from app.services.scope import restricted_to
from app.tools import answers

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


# The view of the cloud a tool call is about (its `cloud` argument), bound by register_tool's wrapper.
_CALL_VIEW: contextvars.ContextVar[AppContext | None] = contextvars.ContextVar("ops_cloud_view", default=None)


def app_context(ctx: Context[AppContext]) -> AppContext:
    """The :class:`AppContext` of a tool call: the view of the cloud the call names (``cloud``), else
    the lifespan's (the first cloud's view; every view reaches the others through ``clouds``)."""
    view = _CALL_VIEW.get()
    return view if view is not None else ctx.request_context.lifespan_context


def principal(ctx: Context[AppContext]) -> str:
    """Who is calling: ``local`` (stdio, in-process), ``oauth:<subject>`` for a verified JWT, or
    ``bearer:<hash prefix>`` with the static token (the token itself is never recorded)."""
    who = oauth_caller(ctx)
    if who is not None:
        return who.principal  # oauth:<sub> (OPS_OAUTH_ISSUER)
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


# ---------------------------------------------------------------------------------------------
# string arguments


@dataclass(frozen=True)
class TextBounds:
    """Put in a parameter's ``Annotated[...]`` metadata to bound it: at most ``max_length`` characters;
    ``multiline`` allows tab, CR and LF (documents such as templates), never other control characters."""

    max_length: int
    multiline: bool = False


NAME_MAX = 255  # OpenStack names, ids, statuses: 255 characters at most in every service
DEFAULT_BOUNDS = TextBounds(1024)
NAME_BOUNDS = TextBounds(NAME_MAX)
LIST_BOUNDS = TextBounds(16 * 1024)  # comma-separated names or ids
PATH_BOUNDS = TextBounds(4096)
# Management tools' documents, by parameter name (Heat's default max_template_size is 512 KiB).
DOCUMENT_BOUNDS = {
    "template": TextBounds(512 * 1024, multiline=True),
    "parameters": TextBounds(64 * 1024, multiline=True),
    "public_key": TextBounds(16 * 1024, multiline=True),
    "description": TextBounds(DEFAULT_BOUNDS.max_length, multiline=True),
    "file_path": PATH_BOUNDS,
    "template_path": PATH_BOUNDS,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _text_validator(name: str, bounds: TextBounds) -> Callable[[Any], Any]:
    pattern = _CONTROL_MULTILINE if bounds.multiline else _CONTROL

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # other types fail the type check with pydantic's own message
        if len(value) > bounds.max_length:
            raise ValueError(f"{name} is too long ({len(value)} characters; at most {bounds.max_length}): "
                             "send a shorter value (a name, ID or a distinctive part of one).")
        bad = pattern.search(value)
        if bad is not None:
            what = "an unpaired surrogate" if 0xD800 <= ord(bad.group()) <= 0xDFFF else "a control character"
            allowed = "tab and newline are allowed, nothing else" if bounds.multiline else \
                "no NUL, tab, newline or other control characters"
            raise ValueError(f"{name} contains {what} (U+{ord(bad.group()):04X} at position {bad.start()}): "
                             f"send plain printable text ({allowed}).")
        return value

    return check


def _bounds_of(name: str, metadata: tuple[Any, ...], default: TextBounds) -> TextBounds:
    for m in metadata:
        if isinstance(m, TextBounds):
            return m
    return DOCUMENT_BOUNDS.get(name, default)


def _bounded(tp: Any, name: str, bounds: TextBounds) -> Any:
    """``tp`` with every ``str`` in it (alone, in a union, under Annotated) bounded."""
    if tp is str:
        return Annotated[str, BeforeValidator(_text_validator(name, bounds)), Field(max_length=bounds.max_length)]
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *meta = typing.get_args(tp)
        meta = [m for m in meta if not isinstance(m, TextBounds)]
        return Annotated[(_bounded(inner, name, bounds), *meta)]  # type: ignore[return-value]
    if origin in (Union, types.UnionType):
        return Union[tuple(_bounded(a, name, bounds) for a in typing.get_args(tp))]  # type: ignore[return-value]
    return tp


def bounded_signature(fn: Callable[..., Any], default: TextBounds = DEFAULT_BOUNDS) -> inspect.Signature:
    """``fn``'s signature with every string parameter bounded (see the module docstring)."""
    sig = inspect.signature(fn, eval_str=True)
    params = []
    for p in sig.parameters.values():
        meta = typing.get_args(p.annotation)[1:] if typing.get_origin(p.annotation) is Annotated else ()
        bounds = _bounds_of(p.name, tuple(meta), default)
        params.append(p.replace(annotation=_bounded(p.annotation, p.name, bounds)))
    return sig.replace(parameters=params)


_SCALARS = (str, int, float, bool, type(None))


def _may_hold_datetime(tp: Any, seen: set[type]) -> bool:
    if tp is datetime or tp is Any or tp is object or tp in (dict, list, tuple, set):
        return True
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if getattr(tp, "aware_datetimes", False):  # a model that builds its datetimes aware (ClassVar)
            return False
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
    if isinstance(value, _SCALARS) or isinstance(value, CallToolResult):  # a shaped answer is JSON already
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


# ---------------------------------------------------------------------------------------------
# the cloud a call is about

CLOUD_PARAM = "cloud"
CLOUD_BOUNDS = TextBounds(64)  # a cloud label (app/config.py CLOUD_LABEL)
CLOUD_DESCRIPTION = ("Which cloud to answer about: one of the labels this server serves (get_clouds lists them). "
                     "May be omitted when the server serves one cloud.")


def _with_cloud_param(sig: inspect.Signature) -> inspect.Signature:
    if CLOUD_PARAM in sig.parameters:
        raise TypeError(f"a tool parameter may not be named {CLOUD_PARAM!r}: register_tool adds it to every tool")
    p = inspect.Parameter(CLOUD_PARAM, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[_bounded(Union[str, None], CLOUD_PARAM, CLOUD_BOUNDS),
                                               Field(description=CLOUD_DESCRIPTION)])
    return sig.replace(parameters=[*sig.parameters.values(), p])


def publish_clouds(mcp: MCPServer[Any], labels: list[str]) -> None:
    """Put the served clouds' labels in every tool's ``cloud`` schema as its ``enum`` (known once the
    lifespan has bound them; called by app.server). Calls are checked against them too (for_cloud)."""
    for tool in mcp._tool_manager.list_tools():  # noqa: SLF001 - the SDK has no public accessor
        prop = (tool.parameters.get("properties") or {}).get(CLOUD_PARAM)
        if not isinstance(prop, dict):
            continue
        for branch in prop.get("anyOf") or [prop]:
            if branch.get("type") == "string":
                branch["enum"] = list(labels)


def cloud_line(view: AppContext | None) -> str | None:
    """With several clouds served, the answer's text starts by naming the cloud it is about (a line
    counted in the answer's budget)."""
    return f"Cloud {view.cloud_name}." if view is not None and len(view.labels) >= 2 else None


def _arguments_key(kwargs: dict[str, Any]) -> str:
    """A call's arguments (the context aside) as a cache-key part."""
    return json.dumps({k: v for k, v in kwargs.items() if k != "ctx"}, sort_keys=True, default=str)


def register_tool(
    mcp: MCPServer[Any],
    fn: F,
    *,
    title: str,
    read_only: bool = True,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = False,
    spans_clouds: bool = False,
    cached: bool = False,
) -> F:
    """Register ``fn`` (an async function whose parameters include ``ctx: Context[AppContext]``) as a tool named
    after it. Domain errors become ``ToolError``; every call is counted and timed. The result is
    shaped for assistants by :func:`app.tools.answers.shape` (summary text, structured content, size
    budget) and the published output schema is flattened (:func:`app.tools.answers.flat_schema`).

    Every tool gets an optional ``cloud`` argument (unless ``spans_clouds``: the tool reports on every
    cloud itself): the call runs on that cloud's view (:func:`app_context`), the only cloud when omitted,
    and an unknown or missing-while-ambiguous cloud is a ToolError listing the served clouds.

    ``cached``: the answer depends only on the arguments, the caller's project scope and the snapshot
    rows it reads (no clock, no live call, no poller state): it is kept while its data and sync state
    are unchanged and served again after one small check (:mod:`app.services.answer_cache`)."""
    if cached and (not read_only or open_world or spans_clouds):
        raise ValueError(f"{fn.__name__}: only a read tool on one cloud's snapshot can be cached")
    name = fn.__name__
    defaults = {p.name: p.default for p in inspect.signature(fn).parameters.values()
                if p.default is not inspect.Parameter.empty}

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        label = kwargs.pop(CLOUD_PARAM, None)
        metrics = getattr(app_context(ctx), "metrics", None) if ctx is not None else None
        t0 = time.perf_counter()
        outcome = "ok"
        token = None
        view: AppContext | None = None
        try:
            if ctx is not None:
                who = authorize(ctx, name, read_only)  # OAuth scopes and projects (app/auth/); no-op otherwise
                root = ctx.request_context.lifespan_context
                if not spans_clouds and root is not None:
                    view = root.for_cloud(label)
                    view = await restricted_to(view, who.projects if who is not None else None)
                    token = _CALL_VIEW.set(view)
            async def compute() -> CallToolResult:
                result = utc_aware(await fn(*args, **kwargs))
                return answers.shape(result, budget=answers.budget_for(kwargs, defaults), lead=cloud_line(view))

            if not cached or view is None:
                return await compute()

            async def in_view() -> CallToolResult:  # also run later, in the background, after a sync
                bound = _CALL_VIEW.set(view)
                try:
                    return await compute()
                finally:
                    _CALL_VIEW.reset(bound)

            key = (name, _arguments_key(kwargs), view.scope.key())
            return await view.answers.serve(
                view, view.settings.answer_cache_entries, key, in_view, answers.snapshot_kinds,
                lambda kept, snap: answers.with_snapshot(kept, utc_aware(snap).model_dump(mode="json")))
        except OpsError as e:
            outcome = type(e).__name__
            raise ToolError(e.message) from e
        except ToolError:
            outcome = "ToolError"
            raise
        except OperationalError as e:
            if not is_lock_timeout(e):
                raise
            outcome = "DatabaseLocked"
            since = app_context(ctx).db.writer_blocked_since if ctx is not None else None
            raise ToolError(
                "The snapshot database is locked by another process"
                + (f" (since {since:%Y-%m-%d %H:%M:%S} UTC)" if since else "")
                + ": this call could not write to it. A management action may already have been carried out in "
                "OpenStack: check get_operation_log and the resource before retrying. get_sync_status says "
                "whether the lock clears."
            ) from e
        finally:
            if token is not None:
                _CALL_VIEW.reset(token)
            if metrics is not None:
                cloud = view.cloud_name if view is not None else ""  # "": no served cloud chosen
                metrics.tool_calls.inc(name, outcome, cloud)
                metrics.tool_latency.observe(time.perf_counter() - t0, name, cloud)

    sig = bounded_signature(fn, NAME_BOUNDS if read_only else DEFAULT_BOUNDS)
    wrapper.__signature__ = sig if spans_clouds else _with_cloud_param(sig)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}  # type: ignore[attr-defined]
    wrapper.__annotations__["return"] = wrapper.__signature__.return_annotation  # type: ignore[attr-defined]
    annotations = ToolAnnotations(
        title=title,
        readOnlyHint=read_only,
        destructiveHint=destructive if not read_only else False,
        idempotentHint=idempotent,
        openWorldHint=open_world,
    )
    mcp.add_tool(wrapper, name=name, title=title, annotations=annotations)
    meta = mcp._tool_manager.get_tool(name).fn_metadata  # noqa: SLF001 - the SDK has no public accessor
    if meta.output_schema is not None:
        meta.output_schema = answers.flat_schema(meta.output_schema)
        # shape() dumps the structured content from the tool's own validated result model; the SDK
        # would validate that dump against the model a second time on every call.
        meta.output_model = None
    return fn
