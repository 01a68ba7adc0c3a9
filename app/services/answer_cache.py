"""Answers of pure snapshot reads, kept while their data has not moved.

A read tool's answer is a function of its arguments, the caller's project scope and the snapshot rows
it read. Those rows change only through the snapshot writer, which bumps the kind's data version
(``snapshot_versions``) in the same transaction. So an answer computed at data versions V, and at the
sync state S of the kinds it read (the ``as_of``, status and error of each), is still the answer while
V and S hold: :class:`AnswerCache` keeps it and serves it again after ONE small read that checks V
(every kind of the cloud: an answer may join a kind it does not list, e.g. project names) and S (the
answer's own kinds) and builds the current freshness block in the same transaction; only the block
(ages as of now) is new, through ``refresh``. Any write, any finished sync run of those kinds, a
kind turning stale with time: the next call computes the answer again.

Only tools whose answers depend on nothing else opt in (``register_tool(cached=True)``): not the
live ones, not those that read the clock (relative times, "stuck for an hour"), the poller's state or
arbitrary SQL. Bounded: ``entries`` answers per view (LRU), each at most an answer budget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, func, select

from app.db.bookkeeping import snapshot_versions, sync_state
from app.sync import freshness as fresh
from app.sync.freshness import Freshness
from app.services.models import SnapshotInfo

if TYPE_CHECKING:
    from app.config import Settings
    from app.context import AppContext

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
_SUM_ONLY = select(_VERSION_SUM.c.total, _VERSION_SUM.c.kinds)


def versions_in(conn: Connection, cloud: str) -> Versions:
    """The data version of ``cloud`` as a whole: (sum of its kinds' versions, kinds with one)."""
    total, kinds = conn.execute(_SUM_ONLY, {"cloud": cloud}).one()
    return int(total), int(kinds)


def check_in(conn: Connection, settings: Settings, kinds: list[str]) -> tuple[Versions, Freshness]:
    """The cloud's data version and the freshness of ``kinds`` (ages as of now), in one statement."""
    rows = conn.execute(_CHECK, {"cloud": settings.cloud_name, "kinds": kinds}).all()
    versions = (int(rows[0].total), int(rows[0].kinds))
    return versions, fresh.from_state_rows([tuple(r)[2:] for r in rows if r.kind is not None], settings, kinds)


def states_of(snapshot: SnapshotInfo) -> States:
    """What an answer may say about its kinds' syncs besides ages: when, how, stale or not."""
    return tuple((k.kind, k.as_of, k.status, k.stale, k.last_error) for k in snapshot.kinds)


@dataclass
class _Entry:
    versions: Versions
    states: States
    kinds: tuple[str, ...]
    value: Any


class AnswerCache:
    """``await serve(view, entries, key, compute, kinds_of, refresh)``; ``hits``/``misses`` count;
    :meth:`kept_in` for a value inside a read."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._memo: dict[Hashable, tuple[Versions, Any]] = {}
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._entries.clear()
        self._memo.clear()

    def kept_in(self, conn: Connection, cloud: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Inside a read: ``compute()``'s value, kept for ``(cloud, key)`` while the cloud's data version
        (read on ``conn``) holds. For fleet-sized figures inside answers that are not kept as a whole (one
        entry per key: use a few fixed keys)."""
        versions = versions_in(conn, cloud)
        hit = self._memo.get((cloud, key))
        if hit is not None and hit[0] == versions:
            return hit[1]
        value = compute()
        self._memo[(cloud, key)] = (versions, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)

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
        and sync state hold, else ``compute()``'d and kept when ``kinds_of(value)`` names its kinds (None:
        not cacheable, e.g. an answer without a freshness block)."""
        if entries <= 0:
            return await compute()
        key = (view.cloud_name, key)
        entry = self._entries.get(key)
        kinds = list(entry.kinds) if entry is not None else []  # a new key: the versions alone

        versions, combined = await view.db.read(check_in, view.settings, kinds)
        snapshot = view.snapshot_of(combined)
        if entry is not None and entry.versions == versions and entry.states == states_of(snapshot):
            self.hits += 1
            self._entries.move_to_end(key)
            return refresh(entry.value, snapshot)
        self.misses += 1
        value = await compute()  # its own read: data written since `versions` makes the entry old, never wrong
        used = kinds_of(value)
        if used is None:
            self._entries.pop(key, None)
            return value
        if list(used) != kinds:
            # the sync state of the kinds this answer used (a second small read when they are not the kept
            # entry's: read after the answer, a newer state only makes the entry old, never wrong)
            snapshot = await view.read(list(used), lambda conn, snap: snap, wait=False)
        if snapshot.missing:  # a kind not synced yet: the first sync will follow shortly
            return value
        self._entries[key] = _Entry(versions, states_of(snapshot), tuple(used), value)
        self._entries.move_to_end(key)
        while len(self._entries) > entries:
            self._entries.popitem(last=False)
        return value


__all__ = ["AnswerCache", "check_in", "states_of", "versions_in"]
