"""Rows of the change log as answer rows, each built once.

``snapshot_changes`` is append-only: the sync writes a row once and only the retention purge ever
deletes it. So the answer row for a change never changes, and a page of ``get_changes`` or
``get_instance_history`` reads only the page's keys, ``(id, at)``, from an index (no row data),
takes the rows it built before from a bounded per-database memo and reads and builds the others in
one more statement. The key holds ``at`` as well as ``id``: SQLite may hand out an id again once
every row above it is purged, never with the same observation time.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import datetime, timezone
from threading import Lock
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from app.db.bookkeeping import snapshot_changes
from app.db.engine import Database

Change = Literal["created", "changed", "deleted"]
MEMO_ROWS = 8192  # per database: ~4 MB of small rows; a page is at most 200


class ChangeRow(BaseModel):
    # Built timezone-aware (app/tools/base.py utc_aware does not walk it) and never mutated.
    aware_datetimes: ClassVar[bool] = True

    at: datetime = Field(description="When OpenStack showed the change (UTC, observation time of the sync).")
    kind: str
    id: str
    name: str | None = None
    project_id: str | None = None
    change: Change
    before: dict[str, Any] | None = Field(None, description="changed/deleted: old values of the columns that "
                                                            "changed.")
    after: dict[str, Any] | None = Field(None, description="created/changed: new values of those columns.")


Key = tuple[str, int, datetime]  # (cloud, change id, at)


class _Memo:
    def __init__(self) -> None:
        self.rows: dict[Key, ChangeRow] = {}
        self.lock = Lock()  # reads run on worker threads

    def put(self, built: dict[Key, ChangeRow]) -> None:
        with self.lock:
            self.rows.update(built)
            over = len(self.rows) - MEMO_ROWS
            if over > 0:  # oldest first (insertion order): the newest changes are the ones asked for
                for key in list(self.rows)[:over]:
                    del self.rows[key]


_MEMOS: weakref.WeakKeyDictionary[Database, _Memo] = weakref.WeakKeyDictionary()
_MEMOS_LOCK = Lock()


def _memo(db: Database) -> _Memo:
    with _MEMOS_LOCK:
        memo = _MEMOS.get(db)
        if memo is None:
            memo = _MEMOS[db] = _Memo()
        return memo


def _build(r: Any) -> ChangeRow:
    # Unvalidated: typed columns and the JSON the writer stored (validation cost ~60 us a row).
    at = r.at.replace(tzinfo=timezone.utc) if r.at.tzinfo is None else r.at
    return ChangeRow.model_construct(at=at, kind=r.kind, id=r.resource_id, name=r.name, project_id=r.project_id,
                                     change=r.change, before=r.before, after=r.after)


def rows_of(conn: Connection, db: Database, cloud: str, keys: Sequence[Any]) -> list[ChangeRow]:
    """The answer rows of ``keys`` (rows of ``id, at`` from a page statement), in their order."""
    memo = _memo(db).rows  # read without the lock: a dict lookup is atomic; writers take it
    wanted = [(cloud, k[0], k[1]) for k in keys]
    found = {key: row for key in wanted if (row := memo.get(key)) is not None}
    if len(found) < len(wanted):
        t = snapshot_changes
        missing = [key[1] for key in wanted if key not in found]
        built = {(cloud, r.id, r.at): _build(r) for r in conn.execute(select(t).where(t.c.id.in_(missing)))}
        _memo(db).put(built)
        found.update(built)
    # Both statements run in one read transaction: every key's row is there.
    return [found[key] for key in wanted if key in found]
