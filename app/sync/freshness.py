"""How fresh the snapshot is, per kind and for a set of kinds (read tools attach this to answers).

* ``as_of``: finish time of the kind's newest succeeded full or incremental run (targeted refreshes
  do not count: they touch a few rows only).
* ``stale``: never synced, older than 2x the kind's poll interval, or the newest finished run of the
  kind failed / was partial / unavailable.
* Combined freshness of several kinds: the oldest ``as_of`` wins; stale if any kind is stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from app.config import Settings
from app.db.bookkeeping import sync_state
from app.db.engine import Database, utcnow
from app.resources.base import ResourceSpec
from app.resources.registry import all_specs
from app.sync.runs import SUCCEEDED, UNAVAILABLE

STALE_FACTOR = 2.0


@dataclass(frozen=True)
class KindFreshness:
    kind: str
    as_of: datetime | None
    age_seconds: float | None
    stale: bool
    never_synced: bool
    unavailable: bool = False
    last_status: str | None = None
    last_error: str | None = None
    last_run_at: datetime | None = None
    interval_seconds: float = 0.0


@dataclass(frozen=True)
class Freshness:
    """Combined view: ``as_of``/``age_seconds`` of the oldest kind; ``missing`` = never synced kinds."""

    as_of: datetime | None
    age_seconds: float | None
    stale: bool
    never_synced: bool
    missing: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, KindFreshness] = field(default_factory=dict)


STATE_CACHE_SECONDS = 0.5


# Every kind's row of a cloud: built once, compiled once.
_STATE_OF_CLOUD = select(sync_state.c.kind, sync_state.c.last_success_at, sync_state.c.last_status,
                         sync_state.c.last_error, sync_state.c.last_finished_at).where(
    sync_state.c.cloud == bindparam("cloud"))


# The answer's kinds only (an answer reads a few of the ~45 kinds): built once, compiled once.
_STATE_OF_KINDS = select(sync_state.c.kind, sync_state.c.last_success_at, sync_state.c.last_status,
                         sync_state.c.last_error, sync_state.c.last_finished_at).where(
    sync_state.c.cloud == bindparam("cloud"), sync_state.c.kind.in_(bindparam("kinds", expanding=True)))


async def _state_rows(db: Database, cloud: str) -> list[tuple[Any, ...]]:
    """Every kind's ``sync_state`` row of ``cloud``, read at most every STATE_CACHE_SECONDS per process.
    Runs finished in this process invalidate it once committed (``RunLog._forget_state``); another process's
    runs show up within half a second. Ages are always computed from the current time.

    One statement through :meth:`Database.read_one` (on SQLite inline on the event loop): the read comes
    right after every sync run, when the report warmer's round holds the GIL on a worker thread, and each
    of an async reader's five thread hops (checkout, BEGIN, execute, fetch, ROLLBACK) then waited for it."""
    cache: dict[str, tuple[float, list[tuple[Any, ...]]]] = db.__dict__.setdefault("_sync_state_cache", {})
    hit = cache.get(cloud)
    if hit is not None and time.monotonic() - hit[0] < STATE_CACHE_SECONDS:
        return hit[1]
    rows = await db.read_one(lambda conn: [tuple(r) for r in conn.execute(_STATE_OF_CLOUD, {"cloud": cloud})])
    cache[cloud] = (time.monotonic(), rows)
    return rows


def _interval(settings: Settings, spec: ResourceSpec | None, kind: str) -> float:
    return settings.poll_interval(kind, spec.poll_interval if spec else None)


def _per_kind(rows: Iterable[tuple[Any, ...]], settings: Settings, names: list[str], now: datetime,
              specs: Mapping[str, ResourceSpec]) -> dict[str, KindFreshness]:
    rows = [r for r in rows if r[0] in names]
    as_of = {k: ok for k, ok, _s, _e, _f in rows if ok is not None}
    last = {k: (st, err, fin) for k, _ok, st, err, fin in rows if st is not None}
    out: dict[str, KindFreshness] = {}
    for kind in names:
        interval = _interval(settings, specs.get(kind), kind)
        ts = as_of.get(kind)
        status, error, finished = last.get(kind, (None, None, None))
        age = max(0.0, (now - ts).total_seconds()) if ts else None
        stale = ts is None or age is None or age > STALE_FACTOR * interval or status not in (None, SUCCEEDED)
        out[kind] = KindFreshness(
            kind=kind, as_of=ts, age_seconds=age, stale=stale, never_synced=ts is None,
            unavailable=status == UNAVAILABLE, last_status=status,
            last_error=error if status != SUCCEEDED else None, last_run_at=finished, interval_seconds=interval,
        )
    return out


async def kinds_freshness(
    db: Database, settings: Settings, kinds: Iterable[str], now: datetime | None = None,
    specs: Mapping[str, ResourceSpec] | None = None,
) -> dict[str, KindFreshness]:
    """Per-kind freshness in one primary-key read of ``sync_state``."""
    rows = await _state_rows(db, settings.cloud_name)
    return _per_kind(rows, settings, list(dict.fromkeys(kinds)), now or utcnow(),
                     specs if specs is not None else all_specs())


def freshness_in(conn: Connection, settings: Settings, kinds: Iterable[str]) -> Freshness:
    """:func:`freshness` read on a sync connection, inside the caller's transaction (the read path of
    :meth:`app.db.engine.Database.read`): the block describes exactly the snapshot the rows came from."""
    names = list(dict.fromkeys(kinds))
    rows = [tuple(r) for r in conn.execute(_STATE_OF_KINDS, {"cloud": settings.cloud_name, "kinds": names})]
    return from_state_rows(rows, settings, names)


def from_state_rows(rows: Iterable[tuple[Any, ...]], settings: Settings, names: list[str]) -> Freshness:
    """The combined freshness of ``names`` from their ``sync_state`` rows (kind, last_success_at,
    last_status, last_error, last_finished_at), ages as of now: for reads that fetch the rows together
    with something else in one statement."""
    return combine(_per_kind(rows, settings, names, utcnow(), all_specs()))


def combine(per_kind: Mapping[str, KindFreshness]) -> Freshness:
    synced = [f for f in per_kind.values() if f.as_of is not None]
    oldest = min(synced, key=lambda f: f.as_of) if synced else None  # type: ignore[arg-type,return-value]
    missing = tuple(k for k, f in per_kind.items() if f.never_synced)
    return Freshness(
        as_of=oldest.as_of if oldest else None,
        age_seconds=max((f.age_seconds or 0.0) for f in synced) if synced else None,
        stale=any(f.stale for f in per_kind.values()),
        never_synced=bool(missing),
        missing=missing,
        unavailable=tuple(k for k, f in per_kind.items() if f.unavailable),
        errors={k: f.last_error for k, f in per_kind.items() if f.last_error},
        kinds=dict(per_kind),
    )


async def freshness(
    db: Database, settings: Settings, kinds: Iterable[str], now: datetime | None = None,
) -> Freshness:
    """Combined freshness for the kinds an answer was built from."""
    return combine(await kinds_freshness(db, settings, kinds, now))


async def wait_for_first_sync(
    db: Database, settings: Settings, kinds: Iterable[str], timeout: float | None = None, poll: float = 0.2,
) -> Freshness:
    """Cold start: wait up to ``timeout`` (default ``settings.cold_start_wait``) until every kind has
    finished a first run (succeeded, failed or unavailable), then return the freshness as it is."""
    names = list(kinds)
    deadline = time.monotonic() + (settings.cold_start_wait if timeout is None else timeout)
    while True:
        per_kind = await kinds_freshness(db, settings, names)
        if all(f.last_status is not None for f in per_kind.values()) or time.monotonic() >= deadline:
            return combine(per_kind)
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
