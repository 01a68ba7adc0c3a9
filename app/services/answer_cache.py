"""Answers of pure snapshot reads, kept while their data has not moved, and re-answered in the
background when it has.

A read tool's answer is a function of its arguments, the caller's project scope and the snapshot rows
it read. Those rows change only through the snapshot writer, which bumps the kind's data version
(``snapshot_versions``) in the same transaction. So an answer computed at data versions V, and at the
sync state S of the kinds it read (the ``as_of``, status and error of each), is still the answer while
V and S hold: :class:`AnswerCache` keeps it and serves it again after ONE small read that checks V
(every kind of the cloud: an answer may join a kind it does not list, e.g. project names) and S (the
answer's own kinds) and builds the current freshness block in the same statement; only the block
(ages as of now) is new, through ``refresh``. Any write, any finished sync run of those kinds, a
kind turning stale with time: the answer is computed again.

No request waits for that when it need not (issue 11: no fleet-sized work on a request):

* after every round of the report warmer (it follows each sync), :meth:`AnswerCache.rewarm` computes
  again, one at a time, the kept answers asked for in the last ``REWARM_WINDOW`` seconds whose data
  moved (the most recently asked first, at most ``rewarm`` of them);
* a request that finds its kept answer outdated is served that answer *as it was* while the new one is
  computed in the background (once per key): its freshness block keeps the ``as_of`` of the data it
  was computed from (ages as of now) and says ``superseded: true``, the text says to call again. Only
  when that previous answer is not stale by its own freshness and no management operation of this
  process wrote to the snapshot since it was computed (an operator who just stopped a server must see
  it stopped); otherwise, and for a key seen the first time, the request computes the answer itself.
  (A kind stale in the previous answer and in the snapshot alike, e.g. a service down for hours, does
  not count: a new answer would be as stale.)

Only tools whose answers depend on nothing else opt in (``register_tool(cached=True)``): not the
live ones, not those that read the clock (relative times, "stuck for an hour"), the poller's state or
arbitrary SQL. Bounded: ``entries`` answers per view (LRU), each at most an answer budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, func, select

from app.db.bookkeeping import snapshot_versions, sync_state
from app.sync import freshness as fresh
from app.services.models import SnapshotInfo

if TYPE_CHECKING:
    from app.config import Settings
    from app.context import AppContext

log = logging.getLogger(__name__)

REWARM_WINDOW = 900.0  # seconds: kept answers asked for within this are computed again after a sync
Versions = tuple[int, int]  # (sum of the cloud's kinds' data versions, kinds that have one)
States = tuple[tuple[Any, ...], ...]


# Every write adds 1 to its kind's version and rows are never removed, so the sum over the cloud's
# kinds moves exactly when any kind's data does: one row to read instead of one per kind.
_VERSION_SUM = select(func.coalesce(func.sum(snapshot_versions.c.version), 0).label("total"),
                      func.count().label("kinds")).where(
    snapshot_versions.c.cloud == bindparam("cloud")).subquery("v")

# The check of a kept answer in ONE statement (one round trip on PostgreSQL, no second statement on
# SQLite): the version sum joined to the sync state of the answer's kinds (none: one row, the sum alone).
_CHECK = select(_VERSION_SUM.c.total, _VERSION_SUM.c.kinds, sync_state.c.kind, sync_state.c.last_success_at,
                sync_state.c.last_status, sync_state.c.last_error, sync_state.c.last_finished_at).select_from(
    _VERSION_SUM.outerjoin(sync_state, and_(sync_state.c.cloud == bindparam("cloud"),
                                            sync_state.c.kind.in_(bindparam("kinds", expanding=True)))))


StateRows = tuple[tuple[Any, ...], ...]  # sync_state rows: kind, last_success_at, last_status, last_error, finished


def check_in(conn: Connection, settings: Settings, kinds: list[str]) -> tuple[Versions, StateRows]:
    """The cloud's data version and the ``sync_state`` rows of ``kinds``, in one statement."""
    rows = conn.execute(_CHECK, {"cloud": settings.cloud_name, "kinds": kinds}).all()
    return (int(rows[0].total), int(rows[0].kinds)), tuple(tuple(r)[2:] for r in rows if r.kind is not None)


def states_of(snapshot: SnapshotInfo) -> States:
    """What an answer may say about its kinds' syncs besides ages: when, how, stale or not."""
    return tuple((k.kind, k.as_of, k.status, k.stale, k.last_error) for k in snapshot.kinds)


def _snapshot(view: AppContext, rows: Sequence[tuple[Any, ...]], kinds: Sequence[str]) -> SnapshotInfo:
    """The freshness block of ``kinds`` from their ``sync_state`` rows, ages as of now."""
    return view.snapshot_of(fresh.from_state_rows(rows, view.settings, list(kinds)))


@dataclass
class _Entry:
    versions: Versions
    states: States
    kinds: tuple[str, ...]
    value: Any
    rows: StateRows  # the sync state the answer was computed at: its freshness while superseded
    view: AppContext
    compute: Callable[[], Awaitable[Any]]
    kinds_of: Callable[[Any], Sequence[str] | None]
    computed_at: float  # monotonic, when its data version was read (before computing)
    used_at: float = field(default_factory=time.monotonic)

    def holds(self, versions: Versions, snapshot: SnapshotInfo) -> bool:
        """Still the answer: the data versions and its kinds' sync state are those it was computed at."""
        return self.versions == versions and self.states == states_of(snapshot)


class AnswerCache:
    """``await serve(view, entries, key, compute, kinds_of, refresh)``; ``await rewarm(view, limit)``
    after a sync; ``note_write()`` when this process wrote through; ``await stop()`` at shutdown;
    ``hits``/``misses``/``superseded``/``rewarmed`` count. (Values inside a read: app/services/kept.py.)"""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Task[None]] = {}
        self._written_at = float("-inf")
        self.hits = self.misses = self.superseded = self.rewarmed = 0
        self.before_recompute: Callable[[Hashable], Awaitable[None]] | None = None  # tests: hold a recompute

    def __len__(self) -> int:
        return len(self._entries)

    def note_write(self) -> None:
        """This process wrote to the snapshot on an operator's behalf (a write-through refresh): answers
        computed before now are never served superseded."""
        self._written_at = time.monotonic()

    async def serve(
        self,
        view: AppContext,
        entries: int,
        key: Hashable,
        compute: Callable[[], Awaitable[Any]],
        kinds_of: Callable[[Any], Sequence[str] | None],
        refresh: Callable[[Any, SnapshotInfo], Any],
    ) -> Any:
        """The answer for ``key``: the kept one (through ``refresh(value, current block)``) while its data
        and sync state hold; the previous one, superseded, while a new one is computed in the background
        (see the module); else ``compute()``'d and kept when ``kinds_of(value)`` names its kinds (None:
        not cacheable, e.g. an answer without a freshness block)."""
        if entries <= 0:
            return await compute()
        key = (view.cloud_name, key)
        entry = self._entries.get(key)
        kinds = list(entry.kinds) if entry is not None else []  # a new key: the versions alone
        versions, rows = await view.db.read_one(check_in, view.settings, kinds)
        snapshot = _snapshot(view, rows, kinds)
        if entry is not None:
            entry.used_at = time.monotonic()
            self._entries.move_to_end(key)
            if entry.holds(versions, snapshot):
                self.hits += 1
                return refresh(entry.value, snapshot)
            previous = self._previous(entry, snapshot)
            if previous is not None:
                self.superseded += 1
                self._recompute_later(key, entry)
                return refresh(entry.value, previous)
        self.misses += 1
        return await self._compute(key, view, entries, versions, compute, kinds_of, kinds, rows)

    async def _compute(self, key: Hashable, view: AppContext, entries: int, versions: Versions,
                       compute: Callable[[], Awaitable[Any]], kinds_of: Callable[[Any], Sequence[str] | None],
                       kinds: list[str], rows: StateRows | None) -> Any:
        """``compute()`` and keep it at ``versions`` (read before it: data written meanwhile makes the entry
        old, never wrong) with the sync state of the kinds it used (``rows``, when those are ``kinds``, else
        read after the answer: a newer state only makes the entry old, never wrong)."""
        started = time.monotonic()
        value = await compute()
        used = kinds_of(value)
        if used is None:  # not cacheable
            self._entries.pop(key, None)
            return value
        used = list(used)
        if used != kinds or rows is None:
            _, rows = await view.db.read_one(check_in, view.settings, used)
        snapshot = _snapshot(view, rows, used)
        if snapshot.missing:  # a kind not synced yet: the first sync will follow shortly
            self._entries.pop(key, None)
            return value
        old = self._entries.get(key)
        self._entries[key] = _Entry(versions, states_of(snapshot), tuple(used), value, rows, view, compute, kinds_of,
                                    started, used_at=old.used_at if old is not None else time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > entries:
            self._entries.popitem(last=False)
        return value

    def _previous(self, entry: _Entry, current: SnapshotInfo) -> SnapshotInfo | None:
        """The freshness block of an outdated entry's own data, ages as of now, marked superseded; None
        when it may not be served: a write-through of this process since, a kind it never had, or a kind
        stale in it that the snapshot now has fresh (a kind stale either way, e.g. a service down for
        hours, does not stop it: a new answer would be as stale)."""
        if entry.computed_at <= self._written_at:
            return None
        snap = _snapshot(entry.view, entry.rows, entry.kinds)
        stale_now = {k.kind for k in current.kinds if k.stale}
        if snap.missing or any(k.stale and k.kind not in stale_now for k in snap.kinds):
            return None
        return snap.model_copy(update={"superseded": True})

    def _recompute_later(self, key: Hashable, entry: _Entry) -> asyncio.Task[None]:
        """The background recompute of ``key`` (one per key at a time)."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._recompute(key, entry),
                                                          name=f"answer-recompute {key!r:.60}")
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return task

    async def _recompute(self, key: Hashable, entry: _Entry) -> None:
        try:
            if self.before_recompute is not None:
                await self.before_recompute(key)
            versions, _ = await entry.view.db.read_one(check_in, entry.view.settings, [])
            await self._compute(key, entry.view, entry.view.settings.answer_cache_entries, versions, entry.compute,
                                entry.kinds_of, list(entry.kinds), None)
            self.rewarmed += 1
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. the object asked about is gone: the next request says so
            log.info("kept answer not recomputed (the next call computes it): %s: %s", type(e).__name__, e)
            if self._entries.get(key) is entry:
                self._entries.pop(key, None)

    async def rewarm(self, view: AppContext, limit: int, busy: set[str] | frozenset[str] = frozenset()) -> int:
        """Compute again, one at a time, the kept answers of ``view``'s cloud asked for in the last
        ``REWARM_WINDOW`` seconds whose data or sync state moved (most recently asked first, at most
        ``limit``), except those reading a kind of ``busy`` (a run of this process still writes it; its
        end asks again). Returns how many were computed."""
        if limit <= 0 or not self._entries:
            return 0
        since = time.monotonic() - REWARM_WINDOW
        recent = [(k, e) for k, e in reversed(self._entries.items())
                  if k[0] == view.cloud_name and e.used_at >= since and k not in self._inflight  # type: ignore[index]
                  and not busy.intersection(e.kinds)]
        versions, rows = await view.db.read_one(check_in, view.settings, sorted({k for _, e in recent for k in e.kinds}))
        done = 0
        for key, entry in recent:
            if done >= limit:
                break
            if entry.holds(versions, _snapshot(view, [r for r in rows if r[0] in entry.kinds], entry.kinds)):
                continue
            await asyncio.shield(self._recompute_later(key, entry))
            done += 1
        return done

    async def settled(self) -> None:
        """Wait until no background recompute runs (tests; a caller that wants the newest answers)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the background recomputes (shutdown, before the database closes)."""
        tasks = list(self._inflight.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


__all__ = ["AnswerCache", "check_in", "states_of"]
