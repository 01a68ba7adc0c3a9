"""The change log counted per time bucket (``snapshot_change_counts``): get_changes sums a window
from a few rows per bucket instead of counting, grouping and JSON-reading every change row of it.

Each change row is counted in its hour and its minute bucket (``WIDTHS``) for every project
(``project_id = ''``), and in its hour for its own project when it has one, under its kind, change
and, for a 'changed' row whose status changed, the old and new status. A count row also keeps the
first and last ``at`` it counts.

* :func:`add` runs in the change-log flush, in the same transaction as the change rows (about three
  count rows upserted per two change rows, most of them a project's hour);
* :func:`purge` runs after the retention purge deleted change rows, in the same transaction: it drops
  the buckets that ended before the cut and counts the bucket it cuts again from the change rows;
* :func:`window_counts` reads a window exactly: whole hours inside it from the hour rows; in an hour
  the window cuts, whole minutes from the minute rows; in a minute it cuts, the change rows
  themselves (index (cloud, at, id)). A cut bucket whose count rows all lie inside or outside the
  window (by their first/last ``at``) is taken from its rows without going finer, so a window ending
  now never reads change rows, and one starting elsewhere reads at most two minutes' of them.
  Counts of some projects (a project filter, a restricted caller) have hours only: in an hour the
  window cuts, those projects' change rows of it are counted (index (cloud, project_id, at, id)), at
  most two hours of those projects' changes.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, cast, delete, func, insert, literal, null, or_, select, union_all
from sqlalchemy.sql import ColumnElement

from app.db.bookkeeping import snapshot_change_counts as counts
from app.db.bookkeeping import snapshot_changes as changes
from app.db.engine import dialect_insert

WIDTHS = (3600, 60)  # coarse to fine; each divides the one before
PROJECT_WIDTHS = WIDTHS[:1]  # a project's own counts: hours only (a minute row per project cost more to write)
ALL = ""  # project_id of the rows that count every project
EPOCH = datetime(1970, 1, 1)
CHANGED = "changed"
KEY = ("cloud", "width", "project_id", "bucket", "kind", "change", "status_before", "status_after")
# (kind, change, status_before, status_after): what a window's counts are keyed by
Tally = Counter[tuple[str, str, str, str]]


def floor(at: datetime, width: int) -> datetime:
    step = timedelta(seconds=width)
    return EPOCH + (at - EPOCH) // step * step


def _ceil(at: datetime, width: int) -> datetime:
    f = floor(at, width)
    return f if f == at else f + timedelta(seconds=width)


def _status(v: Any) -> str:
    return (v if isinstance(v, str) else json.dumps(v))[:255]


def transition(change: str, before: Any, after: Any) -> tuple[str, str]:
    """('OLD', 'NEW') for a 'changed' row whose status changed (both set), else ('', '')."""
    if change != CHANGED or not isinstance(before, dict) or not isinstance(after, dict):
        return "", ""
    old, new = before.get("status"), after.get("status")
    return ("", "") if old is None or new is None else (_status(old), _status(new))


def tally(rows: Iterable[Mapping[str, Any]], widths: Sequence[int] = WIDTHS) -> dict[tuple[Any, ...], list[Any]]:
    """Change-log rows (cloud, kind, change, at, project_id, before, after) -> count key -> [n, first, last]."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        at, (old, new) = r["at"], transition(r["change"], r["before"], r["after"])
        projects = (ALL, r["project_id"]) if r["project_id"] else (ALL,)
        for width in widths:
            bucket = floor(at, width)
            for project in projects if width in PROJECT_WIDTHS else (ALL,):
                key = (r["cloud"], width, project, bucket, r["kind"], r["change"], old, new)
                v = out.get(key)
                if v is None:
                    out[key] = [1, at, at]
                else:
                    v[0] += 1
                    v[1], v[2] = min(v[1], at), max(v[2], at)
    return out


def count_rows(tallied: dict[tuple[Any, ...], list[Any]]) -> list[dict[str, Any]]:
    return [{**dict(zip(KEY, k)), "n": n, "first_at": first, "last_at": last}
            for k, (n, first, last) in tallied.items()]


async def add(conn: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Count a flush's change rows (``conn``: the AsyncConnection of its write transaction). Upserted in
    key order: two PostgreSQL transactions counting the same buckets (the poller's run and a
    write-through refresh on another replica) then lock them in the same order and cannot deadlock."""
    values = count_rows(dict(sorted(tally(rows).items())))
    if not values:
        return
    ins = dialect_insert(conn.dialect.name, counts)
    x = ins.excluded
    stmt = ins.on_conflict_do_update(index_elements=[counts.c[k] for k in KEY], set_={
        "n": counts.c.n + x.n,
        "first_at": case((x.first_at < counts.c.first_at, x.first_at), else_=counts.c.first_at),
        "last_at": case((x.last_at > counts.c.last_at, x.last_at), else_=counts.c.last_at),
    })
    await conn.execute(stmt, values)


async def purge(conn: Any, cloud: str, older_than: datetime) -> None:
    """After the change rows older than ``older_than`` were deleted: drop the buckets that ended before
    it, and count the one it cuts again from the change rows left in it (one GROUP BY in SQL over at
    most an hour of them)."""
    for width in WIDTHS:
        cut = floor(older_than, width)
        mine = and_(counts.c.cloud == cloud, counts.c.width == width)
        await conn.execute(delete(counts).where(mine, counts.c.bucket < cut))
        if cut == older_than:
            continue
        await conn.execute(delete(counts).where(mine, counts.c.bucket == cut))
        in_bucket = and_(changes.c.cloud == cloud, changes.c.at >= cut, changes.c.at < cut + timedelta(seconds=width))
        for by_project in (False, True) if width in PROJECT_WIDTHS else (False,):
            k = _keyed(in_bucket, by_project)
            await conn.execute(insert(counts).from_select(
                list(KEY) + ["n", "first_at", "last_at"],
                select(k.c.cloud, literal(width), k.c.project_id, literal(cut, counts.c.bucket.type), k.c.kind,
                       k.c.change, k.c.status_before, k.c.status_after, func.count(), func.min(k.c.at),
                       func.max(k.c.at))
                .group_by(k.c.cloud, k.c.project_id, *_keys(k))))


def _keyed(where: ColumnElement[bool], by_project: bool) -> Any:
    """The change rows of ``where`` with their count key's columns (a subquery, so GROUP BY names the
    CASE columns instead of repeating them: PostgreSQL would not match repeated bound parameters)."""
    t = changes
    old, new = t.c.before["status"].as_string(), t.c.after["status"].as_string()
    moved = and_(t.c.change == CHANGED, old.is_not(None), new.is_not(None))
    project = t.c.project_id if by_project else literal(ALL, counts.c.project_id.type)
    cond = and_(where, t.c.project_id.is_not(None)) if by_project else where
    return select(t.c.cloud, project.label("project_id"), t.c.kind, t.c.change, t.c.at,
                  case((moved, old), else_="").label("status_before"),
                  case((moved, new), else_="").label("status_after")).where(cond).subquery()


def _keys(k: Any) -> list[Any]:
    return [k.c.kind, k.c.change, k.c.status_before, k.c.status_after]


class Window:
    """The filters of one get_changes read, for the count rows and the change rows alike: a shape
    (which filters are set) and their values. The statements are built once per shape, with bound
    parameters (building a statement costs more than running it)."""

    def __init__(self, cloud: str, kinds: Sequence[str], change: str | None, projects: Sequence[str] | None) -> None:
        """``projects``: None for every project, else only these (a project filter, a restricted
        caller's projects, or the projects in both)."""
        self.shape = (bool(kinds), change is not None, projects is not None)
        self.params: dict[str, Any] = {"cloud": cloud, "kinds": list(kinds), "change": change,
                                       "projects": sorted(p for p in projects or () if p)}
        self.widths = WIDTHS if projects is None else PROJECT_WIDTHS


def _filters(table: Any, kinds: bool, change: bool, projects: bool) -> list[ColumnElement[bool]]:
    where = [table.c.cloud == bindparam("cloud")]
    if kinds:
        where.append(table.c.kind.in_(bindparam("kinds", expanding=True)))
    if change:
        where.append(table.c.change == bindparam("change"))
    if projects:
        where.append(table.c.project_id.in_(bindparam("projects", expanding=True)))
    return where


@functools.cache
def _counts_where(kinds: bool, change: bool, projects: bool) -> ColumnElement[bool]:
    where = _filters(counts, kinds, change, projects)
    if not projects:
        where.append(counts.c.project_id == ALL)
    return and_(*where)


@functools.cache
def raw_where(shape: tuple[bool, bool, bool]) -> ColumnElement[bool]:
    """The filters of windows of ``shape`` (:attr:`Window.shape`) on ``snapshot_changes`` (cloud included,
    time excluded), in bound parameters named as in :attr:`Window.params`."""
    return and_(*_filters(changes, *shape))


_GROUP = (counts.c.kind, counts.c.change, counts.c.status_before, counts.c.status_after)


@functools.cache
def _width_stmt(shape: tuple[bool, bool, bool], middles: int, edges: bool) -> Any:
    """One statement per bucket width: the sums over ``middles`` runs of whole buckets (``first<i>`` to
    ``last<i>``; their ``bucket`` is NULL) and the count rows of the ``buckets`` the window cuts."""
    where = (_counts_where(*shape), counts.c.width == bindparam("width"))
    arms = [select(cast(null(), counts.c.bucket.type).label("bucket"), *_GROUP, func.sum(counts.c.n).label("n"),
                   cast(null(), counts.c.first_at.type).label("first_at"),
                   cast(null(), counts.c.last_at.type).label("last_at"))
            .where(*where, counts.c.bucket >= bindparam(f"first{i}"), counts.c.bucket < bindparam(f"last{i}"))
            .group_by(*_GROUP) for i in range(middles)]
    if edges:
        arms.append(select(counts.c.bucket, *_GROUP, counts.c.n, counts.c.first_at, counts.c.last_at)
                    .where(*where, counts.c.bucket.in_(bindparam("buckets", expanding=True))))
    return arms[0] if len(arms) == 1 else union_all(*arms)


def window_counts(conn: Connection, w: Window, lo: datetime, hi: datetime) -> Tally:
    """Exact counts of the change rows with ``lo <= at < hi`` that pass ``w``'s filters."""
    total: Tally = Counter()
    pending = [(lo, hi)] if lo < hi else []
    for width in w.widths:
        middles: list[tuple[datetime, datetime]] = []
        cuts: list[tuple[datetime, datetime]] = []
        for a, b in pending:
            first, last = _ceil(a, width), floor(b, width)
            if first > last:  # inside one bucket
                cuts.append((a, b))
                continue
            if first < last:
                middles.append((first, last))
            cuts += [r for r in ((a, first), (last, b)) if r[0] < r[1]]
        if not middles and not cuts:
            return total
        params = {**w.params, "width": width, "buckets": [floor(a, width) for a, _b in cuts]}
        for i, (first, last) in enumerate(middles):
            params[f"first{i}"], params[f"last{i}"] = first, last
        rows = conn.execute(_width_stmt(w.shape, len(middles), bool(cuts)), params).all()
        for r in rows:
            if r.bucket is None:
                total[(r.kind, r.change, r.status_before, r.status_after)] += int(r.n)
        pending = _take_whole(width, cuts, [r for r in rows if r.bucket is not None], total)
    if pending:
        total.update(_raw(conn, w, pending))
    return total


def _take_whole(width: int, cuts: list[tuple[datetime, datetime]], rows: list[Any],
                total: Tally) -> list[tuple[datetime, datetime]]:
    """Buckets the window cuts (``rows``: their count rows): counted from their rows when each row lies
    wholly inside or outside the window's part ``[a, b)`` of the bucket; the others are returned, to be
    read finer."""
    finer = []
    for a, b in cuts:
        mine = [r for r in rows if r.bucket == floor(a, width)]
        inside = [r for r in mine if a <= r.first_at and r.last_at < b]
        if all(r in inside or r.last_at < a or r.first_at >= b for r in mine):
            for r in inside:  # several projects' rows may share a key: add, do not overwrite
                total[(r.kind, r.change, r.status_before, r.status_after)] += r.n
        else:
            finer.append((a, b))
    return finer


def _raw(conn: Connection, w: Window, ranges: list[tuple[datetime, datetime]]) -> Tally:
    """Count change rows themselves (a cut minute per range, or a cut hour of some projects)."""
    t = changes
    when = or_(*(and_(t.c.at >= a, t.c.at < b) for a, b in ranges))
    k = _keyed(and_(raw_where(w.shape), when), False)
    rows = conn.execute(select(*_keys(k), func.count()).group_by(*_keys(k)), w.params).all()
    return Counter({(kind, change, old, new): int(n) for kind, change, old, new, n in rows})
