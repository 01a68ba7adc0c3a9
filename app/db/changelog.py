"""The change log (``snapshot_changes``): what the sync saw change, row by row, written by the snapshot
writer in the same transaction as the change itself.

* ``created``: a row that was not live (new, or a revived tombstone); ``after`` has its tracked columns;
* ``changed``: a live row whose tracked typed columns differ; ``before``/``after`` have only those;
* ``deleted``: a row tombstoned (missing from a complete listing, a 404, a gone status).

Tracked columns are a kind's typed columns (``ResourceSpec.columns``) except derived helpers and
bookkeeping noise (``search_text``, ``updated_at``, and a kind's ``change_ignore``). A change of only
untracked fields (a timestamp, a nested detail) is not logged. Nothing is logged while a kind is
synced for the first time: its rows were not created then, we started watching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert

from app.db import change_counts
from app.db.bookkeeping import snapshot_changes
from app.resources.base import ResourceSpec

IGNORED = frozenset({"search_text", "updated_at"})
CREATED, CHANGED, DELETED = "created", "changed", "deleted"


def tracked_columns(spec: ResourceSpec) -> list[str]:
    ignore = IGNORED | spec.change_ignore
    return [c for c in spec.columns if c not in ignore and c in spec.table.c]


def _json(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


class ChangeBatch:
    """Change rows of one write transaction, flushed with one bulk INSERT."""

    def __init__(self, spec: ResourceSpec, cloud: str, sync_id: int | None) -> None:
        self.spec, self.cloud, self.sync_id = spec, cloud, sync_id
        self.columns = tracked_columns(spec)
        self.rows: list[dict[str, Any]] = []

    def _row(self, rid: str, change: str, at: datetime, values: Mapping[str, Any],
             before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        self.rows.append({
            "cloud": self.cloud, "kind": self.spec.kind, "resource_id": rid, "change": change, "at": at,
            "sync_run_id": self.sync_id, "name": _clip(values.get("name")), "project_id": _clip(values.get("project_id")),
            "before": before, "after": after,
        })

    def created(self, rid: str, at: datetime, new: Mapping[str, Any]) -> None:
        self._row(rid, CREATED, at, new, None, {c: _json(new.get(c)) for c in self.columns})

    def changed(self, rid: str, at: datetime, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        diff = [c for c in self.columns if _json(old.get(c)) != _json(new.get(c))]
        if diff:
            self._row(rid, CHANGED, at, new, {c: _json(old.get(c)) for c in diff}, {c: _json(new.get(c)) for c in diff})

    def deleted(self, rows: Iterable[Mapping[str, Any]], at: datetime) -> None:
        for r in rows:
            self._row(str(r["id"]), DELETED, at, r, {c: _json(r.get(c)) for c in self.columns if c in r}, None)

    async def flush(self, conn: Any) -> None:
        if self.rows:
            await conn.execute(insert(snapshot_changes), self.rows)
            await change_counts.add(conn, self.rows)
            self.rows = []


def _clip(v: Any) -> str | None:
    return None if v is None else str(v)[:255]


async def purge(conn: Any, cloud: str, older_than: datetime) -> int:
    """Retention: drop change rows older than ``older_than``."""
    res = await conn.execute(delete(snapshot_changes).where(snapshot_changes.c.cloud == cloud,
                                                            snapshot_changes.c.at < older_than))
    await change_counts.purge(conn, cloud, older_than)
    return int(res.rowcount or 0)
