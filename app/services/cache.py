"""Caches of derived answers: reports (cluster status, capacity) and ordered instance match sets.

**Reports** (:class:`ReportCache`) are computed from a *basis*: the data version of each kind they read
(``snapshot_versions``, bumped by the snapshot writer in the same transaction as every change) and
which of those kinds are facts yet (:func:`app.services.completeness.kind_state`). An entry is current
while its basis is. Nothing cached depends on the clock: time cuts (the "stuck for an hour" rule) and
the freshness-based rules are applied when answering.

* The default argument sets are rebuilt in the background (:mod:`app.services.report_warmer`) when
  the basis moves, never on a request. A request gets the entry of the current basis or, while its
  rebuild is under way, the previous entry marked as such: ``computed.current`` is false, the summary's
  first line says a newer snapshot is being summarised, and the ``snapshot`` block is the one the
  figures came from (ages as of now, marked stale), never the current one.
* Other arguments are computed on the first request for a basis and kept per basis (LRU).

A request reads the basis (one small read) and answers from the entry: the services hand the tool layer
a :class:`ReportAnswer` (how to build the answer, and a key saying which answers of the entry are alike)
and the tool layer keeps the shaped form of each distinct answer in the entry's ``memo``
(:mod:`app.tools.report_answers`), so a repeated question re-serialises nothing but its freshness block.
"""

from __future__ import annotations

import asyncio
import dataclasses
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, select

from app.db.bookkeeping import snapshot_versions
from app.db.engine import utcnow
from app.services.completeness import kind_state
from app.services.models import SnapshotInfo

if TYPE_CHECKING:
    from app.context import AppContext

T = TypeVar("T")


class Computed(BaseModel):
    """Which data a report's figures summarise."""

    current: bool = Field(description="True: the figures summarise the snapshot's current data. False: they summarise "
                                      "an earlier data version (computed_for_version) while the report for the "
                                      "current one (data_version) is rebuilt in the background; `snapshot` is then "
                                      "the snapshot those figures came from. Ask again in a few seconds.")
    computed_for_version: int = Field(description="Data version the figures were computed from (the sum of the "
                                                  "per-kind versions of the kinds read; table snapshot_versions).")
    data_version: int = Field(description="The data version of those kinds now.")
    computed_at: datetime = Field(description="When the figures were computed (UTC; docs/performance.md: reports "
                                              "are rebuilt in the background after each change of their data).")


@dataclass(frozen=True)
class Basis:
    """What a report's figures depend on, read cheaply (one indexed read and the freshness cache)."""

    versions: tuple[tuple[str, int], ...]
    states: tuple[tuple[str, str | None, str | None], ...]  # (kind, kind_state, its error while not a fact)
    snapshot: SnapshotInfo

    @property
    def key(self) -> Hashable:
        return self.versions, self.states

    @property
    def version(self) -> int:
        return sum(v for _, v in self.versions)


# Built once (compiled once): every report request reads it. The cloud's every row (one per kind, ~30),
# filtered here: an IN list of the kinds costs half as much again (PostgreSQL 0.31 vs 0.21 ms, SQLite 0.10 vs
# 0.06 ms, interleaved in one read on the benchmark databases).
_VERSIONS = select(snapshot_versions.c.kind, snapshot_versions.c.version).where(
    snapshot_versions.c.cloud == bindparam("cloud"))


def all_versions(conn: Connection, cloud: str) -> dict[str, int]:
    """The data version of every kind of ``cloud`` that has one, read on ``conn``."""
    return {str(k): int(v) for k, v in conn.execute(_VERSIONS, {"cloud": cloud})}


def versions_of(conn: Connection, cloud: str, kinds: Sequence[str]) -> list[tuple[str, int]]:
    """The data version of each of ``kinds`` that has one, read on ``conn``."""
    versions = all_versions(conn, cloud)
    return [(k, versions[k]) for k in dict.fromkeys(kinds) if k in versions]


def basis_in(conn: Connection, snapshot: SnapshotInfo, cloud: str,
             versions: Mapping[str, int] | None = None) -> Basis:
    """The basis of ``snapshot``'s kinds, read in the caller's transaction (inside :meth:`AppContext.read`);
    ``versions``: :func:`all_versions`, when the caller has read them already."""
    versions = all_versions(conn, cloud) if versions is None else versions
    rows = [(k.kind, versions[k.kind]) for k in snapshot.kinds if k.kind in versions]
    states = []
    for k in snapshot.kinds:
        state = kind_state(k)
        states.append((k.kind, state, k.last_error if state else None))
    return Basis(tuple(sorted(rows)), tuple(states), snapshot)


async def read_basis(app: AppContext, kinds: Sequence[str]) -> Basis:
    """The current basis of ``kinds``: one read (the versions and the freshness block together)."""
    return await app.read(kinds, basis_in, app.cloud_name, wait=False)


def _computed_in(conn: Connection, snapshot: SnapshotInfo, cloud: str,
                 compute: Callable[[Connection, SnapshotInfo], Any]) -> tuple[Basis, Any]:
    """A report and its basis from one transaction: the entry is labelled with exactly the data it read."""
    return basis_in(conn, snapshot, cloud), compute(conn, snapshot)


@dataclass(frozen=True)
class Entry:
    value: Any
    basis: Basis
    computed_at: datetime
    # The shaped answers made from this entry, by ReportAnswer.key (app.tools.report_answers): they go
    # with the entry, so a new basis never serves an old one.
    memo: OrderedDict[Hashable, Any] = dataclasses.field(default_factory=OrderedDict, compare=False)


@dataclass(frozen=True)
class Served(Generic[T]):
    """A report for an answer: its figures, the snapshot block they stand for, and which data they summarise."""

    value: T
    snapshot: SnapshotInfo
    computed: Computed
    note: str | None = None  # the summary's first line when the figures are not current
    also: Any = None  # what ``serve(..., also=)`` read with the basis, when it asked
    memo: OrderedDict[Hashable, Any] = dataclasses.field(default_factory=OrderedDict)  # the entry's

    def summary(self, text: str) -> str:
        return text if self.note is None else f"{self.note}\n{text}"

    @property
    def key(self) -> Hashable:
        """What, besides the entry's figures, an answer made from them depends on: which data they
        summarise against the current basis (and the note saying so)."""
        c = self.computed
        return c.current, c.computed_for_version, c.data_version, c.computed_at, self.note


M = TypeVar("M")


@dataclass(frozen=True)
class ReportAnswer(Generic[M]):
    """An answer made from a report entry, not built yet: ``build()`` makes the result model. Two
    answers of the same entry (``memo``) with equal ``key`` are equal except for their freshness block,
    which is ``snapshot``'s (ages as of now): the tool layer shapes the first and serves the others
    from ``memo`` with the current block (:mod:`app.tools.report_answers`)."""

    build: Callable[[], M]
    key: Hashable
    snapshot: SnapshotInfo
    memo: OrderedDict[Hashable, Any]


def _served(entry: Entry, basis: Basis) -> Served[Any]:
    """``entry`` answered against the current ``basis``: as is when current, else marked previous."""
    computed = Computed(current=entry.basis.key == basis.key, computed_for_version=entry.basis.version,
                        data_version=basis.version, computed_at=entry.computed_at)
    if computed.current:
        return Served(entry.value, basis.snapshot, computed, memo=entry.memo)
    old = entry.basis
    moved = {k for k, v in basis.versions if dict(old.versions).get(k) != v}
    moved |= {s[0] for s in basis.states if s not in set(old.states)}
    when = f"{entry.computed_at:%Y-%m-%dT%H:%M:%SZ}"
    if basis.version != old.version:
        note = (f"Not the current snapshot: these figures summarise data version {old.version} (computed {when}); "
                f"the snapshot has moved to version {basis.version} ({', '.join(sorted(moved))}) and a newer "
                "snapshot is being summarised in the background: ask again in a few seconds.")
    else:
        note = (f"Not the current snapshot: these figures were computed {when}, before the sync state of "
                f"{', '.join(sorted(moved))} changed; the report for the current state is being rebuilt in the "
                "background: ask again in a few seconds.")
    return Served(entry.value, aged(old.snapshot, basis.snapshot, moved), computed, note, memo=entry.memo)


def aged(snapshot: SnapshotInfo, now_block: SnapshotInfo, moved: set[str]) -> SnapshotInfo:
    """The snapshot block of figures computed from an earlier basis: each kind's ``as_of`` is the one the
    figures came from (ages as of now), its sync status and error the current ones (a run that failed
    since concerns these figures too), a kind whose data moved since is stale, and the whole is stale."""
    now, current = utcnow(), {k.kind: k for k in now_block.kinds}
    kinds = []
    for k in snapshot.kinds:
        cur = current.get(k.kind, k)
        age = None if k.as_of is None else round(max(0.0, (now - k.as_of).total_seconds()), 1)
        gone = k.kind in moved
        status = "stale" if gone and cur.status == "ok" else cur.status
        kinds.append(k.model_copy(update={"age_seconds": age, "stale": cur.stale or gone, "status": status,
                                          "last_error": cur.last_error}))
    ages = [k.age_seconds for k in kinds if k.age_seconds is not None]
    return snapshot.model_copy(update={"kinds": kinds, "stale": True, "age_seconds": max(ages) if ages else None})


class Rebuilder(Protocol):
    """The background rebuilder a cache defers to (:class:`app.services.report_warmer.ReportWarmer`)."""

    @property
    def running(self) -> bool: ...

    def nudge(self) -> None: ...


KEPT_VALUES = 16


class ReportCache:
    def __init__(self, maxsize: int = 64) -> None:
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()  # see kept()
        self.maxsize = maxsize
        self.hits = 0
        self.previous_served = 0
        self.computed_on_request = 0
        self.rebuilt = 0
        # Set while a background rebuilder runs (app.context): old entries of background reports are
        # then served, marked, instead of computed on the request.
        self.rebuilder: Rebuilder | None = None
        # Told about every computation: ``on_compute(name, params, on_request)`` (tests, measurements).
        self.on_compute: Callable[[str, Hashable, bool], None] | None = None

    async def serve(self, app: AppContext, name: str, params: Hashable, kinds: Sequence[str],
                    compute: Callable[[Connection, SnapshotInfo], T], *, background: bool,
                    also: Callable[[Connection, Mapping[str, int]], Any] | None = None) -> Served[T]:
        """The report ``name`` for ``params``; ``compute(conn, snapshot)`` (sync) builds it inside one
        read (:meth:`AppContext.read`). ``background``: its argument set is one the rebuilder keeps
        current, so an entry of an older basis is served (marked) rather than recomputed.
        ``also(conn, versions)``: read on every call in the same read as the basis (its result is
        ``Served.also``; ``versions``: every kind's data version, read for the basis): what the answer
        needs fresh besides the cached figures, without a second hop."""
        kinds = list(dict.fromkeys(kinds))
        if also is None:
            basis, extra = await read_basis(app, kinds), None
        else:
            def read(conn: Connection, snap: SnapshotInfo) -> tuple[Basis, Any]:
                versions = all_versions(conn, app.cloud_name)
                return basis_in(conn, snap, app.cloud_name, versions), also(conn, versions)

            basis, extra = await app.read(kinds, read, wait=False)
        served = await self._serve(app, name, params, kinds, compute, basis, background=background)
        return served if also is None else dataclasses.replace(served, also=extra)

    async def _serve(self, app: AppContext, name: str, params: Hashable, kinds: list[str],
                     compute: Callable[[Connection, SnapshotInfo], T], basis: Basis, *,
                     background: bool) -> Served[T]:
        key = (app.cloud_name, name, params)  # one cache may serve several clouds' views
        entry = self._entries.get(key)
        if entry is not None and entry.basis.key == basis.key:
            self.hits += 1
            self._entries.move_to_end(key)
            return _served(entry, basis)
        rebuilder = self.rebuilder
        # A kind synced for the first time since the entry was built: it summarises a snapshot without
        # that kind (a cold start), not a previous version of this one; computed now, like a cold start.
        first_sync = entry is not None and set(entry.basis.snapshot.missing) - set(basis.snapshot.missing)
        if entry is not None and not first_sync and background and rebuilder is not None and rebuilder.running:
            self.previous_served += 1
            rebuilder.nudge()
            return _served(entry, basis)
        entry = await self._build(app, key, kinds, compute, on_request=True)
        return _served(entry, entry.basis)

    async def refresh(self, app: AppContext, name: str, params: Hashable, kinds: Sequence[str],
                      compute: Callable[[Connection, SnapshotInfo], Any]) -> bool:
        """Background: bring the entry of ``(name, params)`` to the current basis. True if it computed."""
        key = (app.cloud_name, name, params)
        before = self._entries.get(key)
        return await self._build(app, key, list(dict.fromkeys(kinds)), compute, on_request=False) is not before

    def kept(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s value for ``key``, kept (a few keys, LRU): for small reads beside a report whose
        key names the data versions and sync states they read, so an equal key is an equal value."""
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]  # type: ignore[no-any-return]
        value = self._kept[key] = compute()
        while len(self._kept) > KEPT_VALUES:
            self._kept.popitem(last=False)
        return value

    def entry(self, name: str, params: Hashable, cloud: str | None = None) -> Entry | None:
        """The entry of ``(name, params)`` for ``cloud`` (None: the newest, whichever cloud it is of)."""
        for (c, n, p), e in reversed(self._entries.items()):  # type: ignore[misc]
            if n == name and p == params and cloud in (None, c):
                return e
        return None

    async def _build(self, app: AppContext, key: Hashable, kinds: list[str],
                     compute: Callable[[Connection, SnapshotInfo], Any], *, on_request: bool) -> Entry:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # Under the lock: whoever held it may have just built the current entry.
            entry = self._entries.get(key)
            if entry is not None and entry.basis.key == (await read_basis(app, kinds)).key:
                return entry
            _cloud, name, params = key  # type: ignore[misc]
            if self.on_compute is not None:
                self.on_compute(name, params, on_request)
            if on_request:
                self.computed_on_request += 1
            else:
                self.rebuilt += 1
            # A request on a cold start waits for a first sync (AppContext.read); the rebuilder takes
            # what is there (the end of that sync starts another rebuild).
            basis, value = await app.read(kinds, _computed_in, app.cloud_name, compute, wait=on_request)
            entry = Entry(value, basis, utcnow())
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                old, _ = self._entries.popitem(last=False)
                held = self._locks.get(old)
                if held is not None and not held.locked():
                    del self._locks[old]
            return entry


class OrderCache:
    """Ordered row ids of large match sets (a search term matching thousands of servers, a status
    shared by most of the fleet), keyed by the query and the data versions of the kinds it reads.

    Ordering tens of thousands of matches by name costs tens of ms; paging through them (or asking
    the same question twice) should not pay it again. The versions are read on the caller's reader
    connection, in the same transaction as the computation, so an entry always matches the snapshot it
    was computed from, and any write to those kinds (``snapshot_versions``) makes a new key. Entries
    are compact ``array('q')`` (8 bytes per row: 400 KB for 50,000 servers). The hot sets (every
    status present, the whole fleet by name) are computed ahead of requests after each change
    (:mod:`app.services.report_warmer`)."""

    def __init__(self, maxsize: int = 32) -> None:
        self._entries: OrderedDict[Hashable, array[int]] = OrderedDict()
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0

    def get(self, conn: Connection, cloud: str, kinds: Sequence[str], key: Hashable,
            compute: Callable[[], Sequence[int]]) -> array[int]:
        """Inside a read of :meth:`app.db.engine.Database.read` (``conn`` its sync connection)."""
        full = (cloud, key, tuple(sorted(versions_of(conn, cloud, kinds))))
        hit = self._entries.get(full)
        if hit is not None:
            self.hits += 1
            self._entries.move_to_end(full)
            return hit
        self.misses += 1
        value = array("q", compute())
        self._entries[full] = value
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value
