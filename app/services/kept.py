"""Values computed over whole kinds (the status counts of every port, the total of every volume, a
capacity plan's host base), kept in this process per database and cloud while the data versions of
the kinds they come from hold (issue 11: no fleet-sized work on a request whose data has not moved).

Every write to a kind bumps its data version (``snapshot_versions``) in the same transaction, so a
value computed inside a read at versions V of its kinds is still exact while a later read sees V: one
small indexed read per use instead of the fleet-sized statement. A value is keyed by what it is
(``key``: the statement's table, grouping and arguments) and checked against the versions of exactly
the kinds its statement reads: a value of ``ports`` alone survives every servers sync. Kept by the
``Database`` object (gone with it), least recently used first out past :data:`MAX_ENTRIES`.

Only values that depend on nothing but those kinds' rows may be kept: never the caller's scope (key
it, or keep only unrestricted values), the clock or the freshness of a sync.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from app.services.cache import all_versions

if TYPE_CHECKING:
    from app.db.engine import Database

T = TypeVar("T")
MAX_ENTRIES = 256

_Store = OrderedDict[Hashable, tuple[tuple[tuple[str, int], ...], Any]]
_KEPT: weakref.WeakKeyDictionary[Database, _Store] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()  # the reads run on several worker threads


def _versions(conn: Connection, cloud: str, kinds: Sequence[str],
              versions: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    if versions is None:
        versions = all_versions(conn, cloud)
    return tuple(sorted((k, versions[k]) for k in dict.fromkeys(kinds) if k in versions))


def _entry(db: Database, full_key: Hashable) -> tuple[tuple[tuple[str, int], ...], Any] | None:
    with _LOCK:
        store = _KEPT.setdefault(db, OrderedDict())
        entry = store.get(full_key)
        if entry is not None:
            store.move_to_end(full_key)
        return entry


def kept(conn: Connection, db: Database, cloud: str, kinds: Sequence[str], key: Hashable,
         compute: Callable[[], T], versions: Mapping[str, int] | None = None) -> T:
    """``compute()`` (run on ``conn``, inside the caller's read), or the value it gave at the data
    versions of ``kinds`` that ``conn``'s transaction sees, if kept. ``versions``: every kind's data
    version (:func:`app.services.cache.all_versions`) when the caller read them already on ``conn``."""
    versions = _versions(conn, cloud, kinds, versions)
    entry = _entry(db, (cloud, key))
    if entry is not None and entry[0] == versions:
        return entry[1]  # type: ignore[no-any-return]
    return _keep(db, (cloud, key), versions, compute())


def kept_or_previous(conn: Connection, db: Database, cloud: str, kinds: Sequence[str], key: Hashable,
                     versions: Mapping[str, int] | None = None) -> tuple[bool, Any]:
    """``(True, value)`` when a value is kept at the data versions ``conn`` sees; ``(False, value)`` with the
    value kept at earlier versions (the caller says so, and has it computed again); ``(False, None)``
    when none is kept, or only one of later versions than ``conn`` sees. Computes nothing."""
    entry = _entry(db, (cloud, key))
    if entry is None:
        return False, None
    now = _versions(conn, cloud, kinds, versions)
    if entry[0] == now:
        return True, entry[1]
    seen = dict(now)
    if any(v > seen.get(k, v) for k, v in entry[0]):  # computed on data newer than this read's
        return False, None
    return False, entry[1]


def _keep(db: Database, full_key: Hashable, versions: tuple[tuple[str, int], ...], value: T) -> T:
    with _LOCK:
        store = _KEPT.setdefault(db, OrderedDict())
        store[full_key] = (versions, value)
        store.move_to_end(full_key)
        while len(store) > MAX_ENTRIES:
            store.popitem(last=False)
    return value
