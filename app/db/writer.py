"""The snapshot writer: the only code that writes snapshot (and link) tables, generic over ResourceSpec.

Per page of raw API objects, :meth:`SnapshotWriter.upsert_page` runs one short write transaction:

1. clean (secrets stripped) and serialise each object canonically; map its typed columns;
2. one ``SELECT id, raw, deleted_at ... WHERE id IN (page)`` (chunked) to classify every object as
   *added* (new, or a revived tombstone), *changed* (stored raw text differs) or *unchanged*;
3. one bulk ``INSERT ... ON CONFLICT (cloud, id) DO UPDATE`` (executemany) for added + changed rows;
   one bulk ``UPDATE ... SET last_seen_at, last_sync_id`` for unchanged rows;
4. link rows of added/changed parents are replaced wholesale (bulk delete + bulk insert).

:meth:`tombstone_missing` (after a complete listing only), :meth:`mark_deleted` (changes-since
DELETED entries, targeted 404s) and :meth:`purge_tombstones` (retention) complete the set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, and_, delete, select, type_coerce, update

from app.db.bookkeeping import snapshot_versions
from app.db.engine import Database, PreSerialized, canonical_json, dialect_insert, utcnow
from app.resources.base import ResourceSpec

IN_CHUNK = 500
THREAD_PREPARE_MIN = 200


@dataclass
class PageCounts:
    """What one write did: objects ``seen``; rows ``added`` (new or revived), ``changed``, ``unchanged``."""

    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0

    def __iadd__(self, other: PageCounts) -> PageCounts:
        self.seen += other.seen
        self.added += other.added
        self.changed += other.changed
        self.unchanged += other.unchanged
        return self


def _chunks(seq: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _parent_column(child: Table) -> str:
    return f"{child.info['parent']}_id"


def _prepare(spec: ResourceSpec, raws: Sequence[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    """id -> (cleaned raw, canonical JSON text); later duplicates of an id win; objects without id are skipped."""
    prepared: dict[str, tuple[dict[str, Any], str]] = {}
    for raw in raws:
        try:
            rid = spec.row_id(raw)
        except KeyError:
            continue
        clean = spec.clean_raw(raw)
        prepared[rid] = (clean, canonical_json(clean))
    return prepared


class SnapshotWriter:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _bump(self, conn: Any, spec: ResourceSpec, cloud: str, now: datetime) -> None:
        """Advance the kind's data version in the same transaction as a write that changed its rows."""
        stmt = dialect_insert(self.db.dialect_name, snapshot_versions).values(
            cloud=cloud, kind=spec.kind, version=1, changed_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[snapshot_versions.c.cloud, snapshot_versions.c.kind],
            set_={"version": snapshot_versions.c.version + 1, "changed_at": now},
        )
        await conn.execute(stmt)

    async def upsert_page(
        self, spec: ResourceSpec, cloud: str, raws: Sequence[dict[str, Any]], sync_id: int, now: datetime
    ) -> PageCounts:
        """Write one page of listed objects (see the module docstring). Objects without an id are skipped."""
        table = spec.table
        # Cleaning + serialising is CPU work (~0.1 ms per server): big pages do it on a worker thread
        # so the event loop (read tools in the same process) stays responsive.
        if len(raws) >= THREAD_PREPARE_MIN:
            prepared = await asyncio.to_thread(_prepare, spec, raws)
        else:
            prepared = _prepare(spec, raws)
        counts = PageCounts(seen=len(prepared))
        if not prepared:
            return counts
        ids = list(prepared)
        async with self.db.writer() as conn:
            existing: dict[str, tuple[str, datetime | None]] = {}
            for chunk in _chunks(ids):
                rows = await conn.execute(
                    select(table.c.id, type_coerce(table.c.raw, Text), table.c.deleted_at).where(
                        table.c.cloud == cloud, table.c.id.in_(chunk)
                    )
                )
                for rid, raw_text, deleted_at in rows:
                    existing[rid] = (raw_text, deleted_at)

            upserts: list[dict[str, Any]] = []
            unchanged: list[str] = []
            for rid, (clean, text) in prepared.items():
                old = existing.get(rid)
                if old is None or old[1] is not None:
                    counts.added += 1
                elif old[0] != text:
                    counts.changed += 1
                else:
                    unchanged.append(rid)
                    continue
                row = spec.map_row(clean)
                row.update(cloud=cloud, id=rid, raw=PreSerialized(text), first_seen_at=now, last_seen_at=now,
                           last_sync_id=sync_id, deleted_at=None)
                upserts.append(row)
            counts.unchanged = len(unchanged)

            if upserts:
                stmt = dialect_insert(self.db.dialect_name, table)
                keep_first_seen = {"cloud", "id", "first_seen_at"}
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.cloud, table.c.id],
                    set_={k: stmt.excluded[k] for k in upserts[0] if k not in keep_first_seen},
                )
                await conn.execute(stmt, upserts)
                await self._replace_children(conn, spec, cloud, [(r["id"], prepared[r["id"]][0]) for r in upserts])
                await self._bump(conn, spec, cloud, now)
            for chunk in _chunks(unchanged):
                await conn.execute(
                    update(table)
                    .where(table.c.cloud == cloud, table.c.id.in_(chunk))
                    .values(last_seen_at=now, last_sync_id=sync_id)
                )
        return counts

    async def _replace_children(
        self, conn: Any, spec: ResourceSpec, cloud: str, parents: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        for child in spec.children:
            pcol = _parent_column(child.table)
            parent_ids = [pid for pid, _ in parents]
            for chunk in _chunks(parent_ids):
                await conn.execute(
                    delete(child.table).where(child.table.c.cloud == cloud, child.table.c[pcol].in_(chunk))
                )
            rows: list[dict[str, Any]] = []
            for pid, clean in parents:
                for r in child.rows(clean):
                    rows.append({**r, "cloud": cloud, pcol: pid})
            if rows:
                await conn.execute(child.table.insert(), rows)

    async def _drop_children(self, conn: Any, spec: ResourceSpec, cloud: str, parent_ids: Any) -> None:
        """Delete link rows of ``parent_ids`` (a list or a subquery of ids)."""
        for child in spec.children:
            pcol = _parent_column(child.table)
            await conn.execute(
                delete(child.table).where(child.table.c.cloud == cloud, child.table.c[pcol].in_(parent_ids))
            )

    async def tombstone_missing(self, spec: ResourceSpec, cloud: str, sync_id: int, now: datetime) -> int:
        """After a complete, error-free listing by run ``sync_id``: tombstone live rows it did not see.

        Rows written by later runs (a targeted refresh during the listing) have a higher
        ``last_sync_id`` and are left alone."""
        table = spec.table
        missing = and_(table.c.cloud == cloud, table.c.deleted_at.is_(None), table.c.last_sync_id < sync_id)
        async with self.db.writer() as conn:
            if spec.children:
                await self._drop_children(conn, spec, cloud, select(table.c.id).where(missing).scalar_subquery())
            result = await conn.execute(update(table).where(missing).values(deleted_at=now))
            if result.rowcount:
                await self._bump(conn, spec, cloud, now)
            return int(result.rowcount or 0)

    async def mark_deleted(
        self, spec: ResourceSpec, cloud: str, ids: Sequence[str], now: datetime, sync_id: int | None = None
    ) -> int:
        """Tombstone the given live rows (OpenStack said they are gone). Returns how many were live."""
        table = spec.table
        ids = list(dict.fromkeys(ids))
        total = 0
        if not ids:
            return 0
        values: dict[str, Any] = {"deleted_at": now}
        if sync_id is not None:
            values["last_sync_id"] = sync_id
        async with self.db.writer() as conn:
            for chunk in _chunks(ids):
                await self._drop_children(conn, spec, cloud, list(chunk))
                result = await conn.execute(
                    update(table)
                    .where(table.c.cloud == cloud, table.c.id.in_(chunk), table.c.deleted_at.is_(None))
                    .values(**values)
                )
                total += int(result.rowcount or 0)
            if total:
                await self._bump(conn, spec, cloud, now)
        return total

    async def analyze(self, spec: ResourceSpec) -> None:
        """Update planner statistics of a kind's table and link tables (sampled on SQLite: cheap)."""
        names = [spec.table.name, *(c.table.name for c in spec.children)]
        async with self.db.writer() as conn:
            if self.db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            for name in names:
                await conn.exec_driver_sql(f'ANALYZE "{name}"')

    async def purge_tombstones(self, spec: ResourceSpec, cloud: str, older_than: datetime) -> int:
        """Retention: delete rows tombstoned before ``older_than`` (their link rows went at tombstoning)."""
        table = spec.table
        async with self.db.writer() as conn:
            if spec.children:
                gone = select(table.c.id).where(
                    table.c.cloud == cloud, table.c.deleted_at.is_not(None), table.c.deleted_at < older_than
                )
                await self._drop_children(conn, spec, cloud, gone.scalar_subquery())
            result = await conn.execute(
                delete(table).where(
                    table.c.cloud == cloud, table.c.deleted_at.is_not(None), table.c.deleted_at < older_than
                )
            )
            if result.rowcount:
                await self._bump(conn, spec, cloud, utcnow())
            return int(result.rowcount or 0)
