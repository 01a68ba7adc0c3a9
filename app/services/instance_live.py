"""Live reads about one instance, never stored in the snapshot: its actions with events (Nova
``os-instance-actions``: who did what when, request ids, failures) and its console log (the
``os-getConsoleOutput`` server action).

Syncing every instance's actions makes no sense at 100,000 instances, and a console log is neither
small nor stable, so both are fetched when asked: the instance is resolved in the snapshot (exact
name or ID, :func:`app.services.operations.targets.resolve`), then OpenStack is called through the
:class:`~app.cloud.connection.CloudClient` (worker pool, bounded concurrency, retries for reads).
Actions are cached briefly (``ACTIONS_TTL`` seconds, at most ``CACHE_SIZE`` instances per cloud
client): asking "who stopped it?" then "show the events" costs one round of calls. Console output is
never cached. Errors keep OpenStack's request id.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from app.cloud.connection import CloudClient, Response, request_id_of
from app.errors import InvalidArgument, OpsError, UpstreamError
from app.resources.registry import all_specs
from app.services.models import PageInfo, SnapshotInfo
from app.services.operations.targets import Target, resolve
from app.services.query import live

if TYPE_CHECKING:
    from app.context import AppContext

ACTIONS_TTL = 30.0
CACHE_SIZE = 256
MAX_ACTIONS = 1000          # Nova's default max_limit: the most one listing returns
MAX_DETAILS = 20            # events are fetched for at most this many actions per call
TRACEBACK_MAX = 2000
CONSOLE_MAX_LINES = 500
CONSOLE_MAX_BYTES = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
FAILED_RESULTS = {"error", "failed", "failure"}


class TTLCache:
    """A small LRU of ``key -> (stored_at, value)`` entries that expire after ``ttl`` seconds."""

    def __init__(self, ttl: float, maxsize: int = CACHE_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.maxsize, self.clock = ttl, maxsize, clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def peek(self, key: Hashable) -> Any | None:
        hit = self._entries.get(key)
        if hit is None or self.clock() - hit[0] > self.ttl:
            return None
        self._entries.move_to_end(key)
        return hit[1]

    async def get_or_fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """``(value, from_cache)``; concurrent misses of one key share one fetch."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self.peek(key)
            if hit is not None:
                return hit, True
            value = await fetch()
            self._entries[key] = (self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                old, _ = self._entries.popitem(last=False)
                self._locks.pop(old, None)
            return value, False


_action_caches: weakref.WeakKeyDictionary[CloudClient, TTLCache] = weakref.WeakKeyDictionary()


def actions_cache(client: CloudClient) -> TTLCache:
    cache = _action_caches.get(client)
    if cache is None:
        cache = _action_caches[client] = TTLCache(ACTIONS_TTL)
    return cache


def with_request_id(err: OpsError) -> OpsError:
    """``err`` with OpenStack's request id in its message (a 404 or 409 carries one too)."""
    rid = request_id_of(err)
    if rid and rid not in err.message:
        err.message = f"{err.message} (OpenStack request id {rid})"
        err.args = (err.message,)
    return err


async def _get(app: AppContext, path: str, doing: str) -> Response:
    try:
        return await app.cloud.get_json("compute", path, microversion="max", doing=doing)
    except OpsError as e:
        raise with_request_id(e) from e.__cause__


def _utc(value: Any) -> datetime | None:
    from app.resources._common import parse_ts

    return parse_ts(value)


# ----------------------------------------------------------------------------------------------
# Instance actions


class ActionEvent(BaseModel):
    event: str = Field(description="Nova event, e.g. compute_stop_instance, conductor_schedule_and_build_instances.")
    start_time: datetime | None = None
    finish_time: datetime | None = Field(None, description="Null while the event runs.")
    result: str | None = Field(None, description="Success, Error, or null while running.")
    host: str | None = Field(None, description="Compute host that ran it (microversion 2.62+, admin).")
    details: str | None = Field(None, description="Failed events only: Nova's reason (2.84+).")
    traceback: str | None = Field(None, description=f"Failed events only, admin only: the traceback (first "
                                                      f"{TRACEBACK_MAX} characters).")


class InstanceAction(BaseModel):
    action: str = Field(description="create, stop, start, reboot, resize, migrate, live-migration, delete, ...")
    request_id: str = Field(description="OpenStack request id of the API call (matches the services' logs).")
    start_time: datetime | None = Field(description="When the call was made (UTC).")
    updated_at: datetime | None = Field(None, description="Last event change (microversion 2.58+).")
    user_id: str | None = Field(description="Who made the call.")
    user_name: str | None = Field(None, description="The user's name, from the snapshot's users.")
    project_id: str | None = Field(description="The caller's project.")
    message: str | None = Field(None, description="Nova's message: 'Error' when the action failed.")
    failed: bool = Field(description="True when the action or one of its events failed.")
    events: list[ActionEvent] | None = Field(
        None, description=f"Events, for the newest {MAX_DETAILS} actions of the page at most (null: not fetched).")


class InstanceActions(BaseModel):
    summary: str = Field(description="Who did what last, failures first.")
    instance_id: str
    instance_name: str | None
    fetched_at: datetime = Field(description="When OpenStack was asked (UTC); answers are cached "
                                             f"{ACTIONS_TTL:.0f} s.")
    cached: bool = Field(description="True if this answer came from the short cache.")
    page: PageInfo
    actions: list[InstanceAction] = Field(description="Newest first.")
    snapshot: SnapshotInfo = Field(description="Freshness of the snapshot the instance was resolved in.")


def _event(raw: dict[str, Any]) -> ActionEvent:
    result = raw.get("result")
    failed = str(result or "").lower() in FAILED_RESULTS
    tb = raw.get("traceback") if failed else None
    return ActionEvent(
        event=str(raw.get("event") or "?"), start_time=_utc(raw.get("start_time")),
        finish_time=_utc(raw.get("finish_time")), result=result, host=raw.get("host"),
        details=(raw.get("details") or None) if failed else None,
        traceback=(tb[:TRACEBACK_MAX] + (" ...(truncated)" if len(tb) > TRACEBACK_MAX else "")) if tb else None,
    )


def _action(raw: dict[str, Any], detail: dict[str, Any] | None, names: dict[str, str]) -> InstanceAction:
    events = [_event(e) for e in detail.get("events") or []] if detail is not None else None
    message = raw.get("message")
    failed = bool(message and str(message).lower() in FAILED_RESULTS) or any(
        str(e.result or "").lower() in FAILED_RESULTS for e in events or [])
    uid = raw.get("user_id")
    return InstanceAction(
        action=str(raw.get("action") or "?"), request_id=str(raw.get("request_id") or ""),
        start_time=_utc(raw.get("start_time")), updated_at=_utc(raw.get("updated_at")), user_id=uid,
        user_name=names.get(uid) if uid else None, project_id=raw.get("project_id"), message=message,
        failed=failed, events=events,
    )


async def _user_names(app: AppContext, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    users = all_specs()["users"].table
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(users.c.id, users.c.name).where(
            live(users, app.cloud_name), users.c.id.in_(sorted(ids))))).all()
    return {r.id: r.name for r in rows if r.name}


async def _instance(app: AppContext, instance: str) -> Target:
    return await resolve(app, "servers", instance, what="instance", param="instance")


def _summary_actions(target: Target, actions: list[InstanceAction], total: int) -> str:
    label = target.label()
    if not actions:
        return f"Instance {label}: no actions recorded by Nova."
    last = actions[0]
    who = last.user_name or last.user_id or "unknown user"
    text = (f"Instance {label}: {total} action(s). Latest: {last.action} by {who} at "
            f"{last.start_time:%Y-%m-%d %H:%M:%S} UTC (request {last.request_id})" if last.start_time else
            f"Instance {label}: {total} action(s). Latest: {last.action} by {who} (request {last.request_id})")
    failed = [a for a in actions if a.failed]
    if failed:
        f = failed[0]
        reason = next((e.details or e.event for e in f.events or [] if e.result and e.result.lower() in FAILED_RESULTS),
                      None)
        text += f". Failed: {f.action} (request {f.request_id})" + (f": {reason}" if reason else "")
    return text + "."


async def get_instance_actions(app: AppContext, instance: str, action: str | None, limit: int, offset: int,
                               with_events: bool) -> InstanceActions:
    if not 1 <= limit <= 50:
        raise InvalidArgument(f"limit must be 1..50 (got {limit}).")
    if offset < 0:
        raise InvalidArgument("offset must be 0 or more.")
    target = await _instance(app, instance)
    snap = await app.snapshot(["servers"], wait=False)
    cache = actions_cache(app.cloud)
    path = f"/servers/{target.id}/os-instance-actions"

    async def fetch_list() -> tuple[datetime, list[dict[str, Any]]]:
        asked = datetime.now(timezone.utc).replace(tzinfo=None)
        resp = await _get(app, path, f"reading the actions of instance {target.label()}")
        items = (resp.body or {}).get("instanceActions") if isinstance(resp.body, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(f"Unexpected answer reading the actions of instance {target.label()}.",
                                request_id=resp.request_id)
        return asked, items[:MAX_ACTIONS]

    (fetched_at, raw_actions), cached = await cache.get_or_fetch((target.id, "list"), fetch_list)
    wanted = (action or "").strip().lower()
    matching = [a for a in raw_actions if not wanted or str(a.get("action", "")).lower() == wanted]
    page = matching[offset:offset + limit]

    async def fetch_detail(rid: str) -> dict[str, Any]:
        resp = await _get(app, f"{path}/{rid}", f"reading action {rid} of instance {target.label()}")
        body = resp.body.get("instanceAction") if isinstance(resp.body, dict) else None
        return body if isinstance(body, dict) else {}

    details: list[dict[str, Any] | None] = [None] * len(page)
    if with_events:
        fetched = await asyncio.gather(*(
            cache.get_or_fetch((target.id, "detail", a.get("request_id")),
                               lambda rid=a.get("request_id"): fetch_detail(str(rid)))
            for a in page[:MAX_DETAILS]))
        for i, (d, hit) in enumerate(fetched):
            details[i] = d
            cached = cached and hit
    names = await _user_names(app, {a["user_id"] for a in page if a.get("user_id")})
    actions = [_action(a, d, names) for a, d in zip(page, details)]
    return InstanceActions(
        summary=_summary_actions(target, actions, len(matching)), instance_id=target.id, instance_name=target.name,
        fetched_at=fetched_at, cached=cached, page=PageInfo.of(len(matching), len(actions), offset, limit),
        actions=actions, snapshot=snap,
    )


# ----------------------------------------------------------------------------------------------
# Console log


class ConsoleLog(BaseModel):
    summary: str
    instance_id: str
    instance_name: str | None
    status: str | None = Field(description="The instance's status in the snapshot.")
    lines_requested: int
    lines_returned: int
    bytes: int = Field(description="Size of `output` in bytes (UTF-8).")
    truncated: bool = Field(description=f"True if older lines were cut to stay within {CONSOLE_MAX_BYTES} bytes.")
    output: str = Field(description="The last lines of the console, oldest first; terminal escape sequences and "
                                    "control characters removed.")
    fetched_at: datetime
    snapshot: SnapshotInfo


def clean_console(text: str, max_bytes: int = CONSOLE_MAX_BYTES) -> tuple[list[str], bool]:
    """Lines of ``text`` without ANSI escapes and control characters (tabs kept), keeping the newest
    lines within ``max_bytes``; ``(lines, truncated)``."""
    lines = [_CONTROL.sub("", _ANSI.sub("", ln.replace("\r", ""))) for ln in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    size, kept = 0, []
    for ln in reversed(lines):
        n = len(ln.encode()) + 1
        if size + n > max_bytes:
            if not kept:  # one huge line: keep its end
                kept.append(ln.encode()[-(max_bytes - 1):].decode(errors="ignore"))
            return list(reversed(kept)), True
        kept.append(ln)
        size += n
    return list(reversed(kept)), False


def _post_console(client: CloudClient, sid: str, length: int) -> Response:
    from openstack import exceptions as os_exc

    sent_at = datetime.now(timezone.utc).replace(tzinfo=None)
    resp = client.conn.compute.post(f"/servers/{sid}/action", json={"os-getConsoleOutput": {"length": length}},
                                    headers={"Accept": "application/json"})
    os_exc.raise_from_response(resp)
    rid = resp.headers.get("x-openstack-request-id") or resp.headers.get("x-compute-request-id")
    return Response(body=resp.json() if resp.content else None, request_id=rid, status=resp.status_code,
                    sent_at=sent_at)


async def get_console_log(app: AppContext, instance: str, lines: int) -> ConsoleLog:
    if not 1 <= lines <= CONSOLE_MAX_LINES:
        raise InvalidArgument(f"lines must be 1..{CONSOLE_MAX_LINES} (got {lines}).")
    target = await _instance(app, instance)
    snap = await app.snapshot(["servers"], wait=False)
    doing = f"reading the console log of instance {target.label()}"
    try:
        resp = await app.cloud.run(_post_console, app.cloud, target.id, lines, doing=doing, service="compute")
    except OpsError as e:
        raise with_request_id(e) from e.__cause__
    output = (resp.body or {}).get("output") if isinstance(resp.body, dict) else None
    if not isinstance(output, str):
        raise UpstreamError(f"Unexpected answer while {doing}: no 'output' text.", request_id=resp.request_id)
    kept, truncated = clean_console(output)
    kept = kept[-lines:]
    text = "\n".join(kept)
    summary = (f"Console of instance {target.label()} (status {target.status or '?'}): last {len(kept)} line(s)"
               + (f", older lines cut to stay within {CONSOLE_MAX_BYTES // 1024} KB" if truncated else "")
               + (f". Last line: {kept[-1][:160]!r}." if kept else "; the console is empty."))
    return ConsoleLog(
        summary=summary, instance_id=target.id, instance_name=target.name, status=target.status,
        lines_requested=lines, lines_returned=len(kept), bytes=len(text.encode()), truncated=truncated,
        output=text, fetched_at=resp.sent_at or datetime.now(timezone.utc).replace(tzinfo=None), snapshot=snap,
    )

