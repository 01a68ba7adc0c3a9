"""What changed, from the change log the sync writes (app/db/changelog.py): ``get_changes`` and
``get_instance_history``. A live API can only say what is true now; these answer from history.

Answers lead with a summary (counts per kind and change, the commonest status transitions), then a
page of lean rows (only the columns that changed). Times are UTC; ``since`` and ``until`` accept ISO
8601 (naive means UTC) or a duration back from now (``90m``, ``6h``, ``2d``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, CompoundSelect, Connection, Select, and_, bindparam, func, select, true, union_all

from app.db.bookkeeping import snapshot_changes
from app.db.change_counts import Tally, Window, raw_where, window_counts
from app.db.engine import utcnow
from app.errors import Conflict, InvalidArgument, NotFound
from app.services.change_rows import ChangeRow, rows_of
from app.resources.registry import all_specs
from app.services.models import PageInfo, SnapshotInfo, clip
from app.services.paging import page_total
from app.services.query import check_window, close_matches, split_csv
from app.services.scope import restrict

if TYPE_CHECKING:
    from app.context import AppContext

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
RESOLUTION = timedelta(microseconds=1)  # of stored times: at <= end is at < end + this
LATEST = datetime(9000, 1, 1)  # later than any change


class ChangeCount(BaseModel):
    kind: str
    created: int = 0
    changed: int = 0
    deleted: int = 0


class Changes(BaseModel):
    summary: str = Field(description="One paragraph: what changed in the window, biggest first.")
    since: datetime
    until: datetime
    counts: list[ChangeCount] = Field(description="Per kind, over the whole window and filters.")
    status_transitions: dict[str, int] = Field(
        description="'kind: OLD->NEW' -> count over every change of the window and filters, commonest first "
                    "(at most 10).")
    page: PageInfo
    changes: list[ChangeRow] = Field(description="The changes, newest first.")
    snapshot: SnapshotInfo


class InstanceHistory(BaseModel):
    summary: str
    id: str
    name: str | None
    live: bool = Field(description="False if the instance is deleted (tombstoned) in the snapshot.")
    first_seen_at: datetime = Field(description="When the snapshot first saw it (UTC).")
    deleted_at: datetime | None
    page: PageInfo
    history: list[ChangeRow] = Field(description="Every change the sync saw, newest first.")
    snapshot: SnapshotInfo


def parse_when(value: str, name: str, now: datetime) -> datetime:
    m = _DURATION.match(value)
    if m:
        return now - timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"{name} must be an ISO 8601 time (2026-11-30T09:00:00Z; naive means UTC) or a duration back from "
            f"now such as 90m, 6h, 2d (got {clip(value)}).") from None
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


async def get_changes(app: AppContext, since: str, until: str | None, kinds: str | None, project: str | None,
                      change: str | None, limit: int, offset: int) -> Changes:
    check_window(limit, offset)
    now = utcnow()
    start = parse_when(since, "since", now)
    end = parse_when(until, "until", now) if until else now
    if end < start:
        raise InvalidArgument("until is before since: swap them, or leave until empty for now.")
    specs = all_specs()
    wanted = split_csv(kinds)
    unknown = [k for k in wanted if k not in specs]
    if unknown:
        raise InvalidArgument(f"Unknown kind {clip(unknown[0])}. Known kinds: {', '.join(specs)}.")
    if change is not None and change not in ("created", "changed", "deleted"):
        raise InvalidArgument("change must be created, changed or deleted (or empty for all).")
    # Every project's changes, or only those of the project filter / the restricted caller's projects
    # (both: the ones in both): counted from the per-bucket counts (app/db/change_counts.py).
    projects = None if app.scope.projects is None else set(app.scope.projects)
    if project:
        projects = {project} & projects if projects is not None else {project}
    window = Window(app.cloud_name, wanted, change, None if projects is None else sorted(projects))
    hi = min(end, LATEST) + RESOLUTION  # at <= end (LATEST: the buckets' edges stay inside datetime's range)

    def read(conn: Connection) -> tuple[Tally, list[ChangeRow], SnapshotInfo]:
        tallied = window_counts(conn, window, start, hi)
        page: list[ChangeRow] = []
        if sum(tallied.values()) > offset:  # else the walk would read every row of the window to find none
            keys = conn.execute(_page_stmt(window.shape), {**window.params, "lo": start, "hi": hi, "limit": limit,
                                                            "offset": offset}).all()
            page = rows_of(conn, app.db, app.cloud_name, keys)
        seen = sorted({kind for (kind, _ch, _b, _a), n in tallied.items() if n})
        return tallied, page, app.snapshot_in(conn, wanted or seen or ["servers"])

    tallied, page, snap = await app.db.read(read)
    per_kind: dict[str, ChangeCount] = {}
    transitions: Counter[str] = Counter()
    for (kind, ch, old, new), n in tallied.items():
        if n:
            c = per_kind.setdefault(kind, ChangeCount(kind=kind))
            setattr(c, ch, getattr(c, ch) + n)
            if old or new:
                transitions[f"{kind}: {old}->{new}"] += n
    counts = sorted(per_kind.values(), key=lambda c: (-(c.created + c.changed + c.deleted), c.kind))
    total = sum(c.created + c.changed + c.deleted for c in counts)
    top = dict(sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0]))[:10])  # ties: by name
    return Changes(
        summary=_summary(start, end, counts, top), since=start, until=end, counts=counts,
        status_transitions=top,
        page=PageInfo.of(total, len(page), offset, limit), changes=page, snapshot=snap,
    )


@functools.cache
def _page_stmt(shape: tuple[bool, bool, bool]) -> Select[tuple[int, datetime]]:
    """The keys of a page of the window's change rows, newest first (one index walk that stops when
    the page is full: every index of the change log ends ``(at, id)``)."""
    t = snapshot_changes
    return (select(t.c.id, t.c.at).where(raw_where(shape), t.c.at >= bindparam("lo"), t.c.at < bindparam("hi"))
            .order_by(t.c.at.desc(), t.c.id.desc()).limit(bindparam("limit")).offset(bindparam("offset")))


def _lookups(restriction: ColumnElement[bool]) -> CompoundSelect:
    """An instance by id, by name among live rows, by name among tombstones: three indexed lookups (the
    name indexes are partial, live or deleted rows; one `id = x OR name = x` scanned the whole cloud),
    sent as one UNION ALL statement (one round trip on PostgreSQL)."""
    s = all_specs()["servers"].table
    name = s.c.name == bindparam("instance")
    lookups = (s.c.id == bindparam("instance"), and_(name, s.c.deleted_at.is_(None)),
               and_(name, s.c.deleted_at.is_not(None)))
    return union_all(*(select(select(s.c.id, s.c.name, s.c.first_seen_at, s.c.deleted_at)
                              .where(s.c.cloud == bindparam("cloud"), restriction, cond)
                              .order_by(s.c.name, s.c.id).limit(20).subquery()) for cond in lookups))


@functools.cache
def _open_lookups() -> CompoundSelect:
    return _lookups(true())


_HISTORY = and_(snapshot_changes.c.cloud == bindparam("cloud"), snapshot_changes.c.kind == "servers",
                snapshot_changes.c.resource_id == bindparam("id"))
_HISTORY_PAGE = (select(snapshot_changes.c.id, snapshot_changes.c.at).where(_HISTORY)
                 .order_by(snapshot_changes.c.at.desc(), snapshot_changes.c.id.desc())
                 .limit(bindparam("limit")).offset(bindparam("offset")))
_HISTORY_COUNT = select(func.count()).where(_HISTORY)


def _summary(start: datetime, end: datetime, counts: list[ChangeCount], top: dict[str, int]) -> str:
    window = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if not counts:
        return f"No changes seen from {window}."
    parts = []
    for c in counts[:6]:
        bits = [f"{n} {word}" for n, word in ((c.created, "created"), (c.deleted, "deleted"),
                                               (c.changed, "changed")) if n]
        parts.append(f"{c.kind}: {', '.join(bits)}")
    text = f"From {window}: " + "; ".join(parts)
    if len(counts) > 6:
        text += f"; and {len(counts) - 6} more kinds"
    if top:
        text += ". Status changes: " + ", ".join(f"{k} x{n}" for k, n in list(top.items())[:5])
    return text + "."


async def get_instance_history(app: AppContext, instance: str, limit: int, offset: int) -> InstanceHistory:
    check_window(limit, offset)
    s = all_specs()["servers"].table
    # A restricted caller's lookups carry its projects' condition (built per call); the rest run the
    # statements built once.
    lookup = _open_lookups() if app.scope.projects is None else _lookups(restrict(app, s))

    def read(conn: Connection) -> tuple[Any, int, list[ChangeRow], SnapshotInfo]:
        found = {m.id: m for m in conn.execute(lookup, {"cloud": app.cloud_name, "instance": instance})}
        matches = sorted(found.values(), key=lambda m: (m.deleted_at is not None, m.name or "", m.id))[:20]
        if not matches:
            names = conn.execute(select(s.c.name).where(s.c.cloud == app.cloud_name, s.c.deleted_at.is_(None),
                                                        restrict(app, s))
                                 .limit(5000)).scalars().all()
            raise NotFound(f"No instance {clip(instance)} in the snapshot (live or deleted).",
                           close_matches(instance, list(names)))
        by_id = [m for m in matches if m.id == instance]
        if by_id:
            target = by_id[0]
        elif len({m.id for m in matches}) > 1:
            live = [m for m in matches if m.deleted_at is None]
            if len(live) != 1:
                raise Conflict(f"{len(matches)} instances are named {clip(instance)}: pass one of their IDs: "
                               + ", ".join(m.id for m in matches[:10]))
            target = live[0]
        else:
            target = matches[0]
        mine = {"cloud": app.cloud_name, "id": target.id}
        keys = conn.execute(_HISTORY_PAGE, {**mine, "limit": limit, "offset": offset}).all()
        total = page_total(conn, _HISTORY_COUNT, len(keys), limit, offset, mine)
        return target, total, rows_of(conn, app.db, app.cloud_name, keys), app.snapshot_in(conn, ["servers"])

    target, total, history, snap = await app.db.read(read)
    state = "deleted" if target.deleted_at else "live"
    summary = (f"Instance {target.name or target.id} ({target.id}), {state}; first seen {target.first_seen_at:%Y-%m-%d %H:%M} "
               f"UTC; {total} change(s) recorded.")
    if history:
        last = history[0]
        summary += f" Latest: {last.change} at {last.at:%Y-%m-%d %H:%M} UTC"
        if last.before and last.after:
            summary += " (" + ", ".join(f"{k}: {last.before.get(k)}->{last.after.get(k)}" for k in list(last.after)[:3]) + ")"
        summary += "."
    return InstanceHistory(
        summary=summary, id=target.id, name=target.name, live=target.deleted_at is None,
        first_seen_at=target.first_seen_at, deleted_at=target.deleted_at,
        page=PageInfo.of(int(total), len(history), offset, limit), history=history,
        snapshot=snap,
    )
