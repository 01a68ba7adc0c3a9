"""The snapshot writer: the only code that writes snapshot (and link) tables, generic over ResourceSpec.

**Observation order.** Every write carries ``observed_at``: when OpenStack was asked (taken just
before the HTTP request of the page or GET that returned the objects). A row remembers the newest
observation in ``last_seen_at`` (alive) or ``deleted_at`` (gone), and a write whose observation is
older than that changes nothing: a slow full listing cannot undo a newer targeted refresh, revive a
row a newer GET found gone, or the other way round, whatever order their transactions commit in.

Per page of raw API objects, :meth:`SnapshotWriter.upsert_page` runs short write transactions of at
most ``WRITE_BATCH`` objects each:

1. clean (secrets stripped) and serialise each object canonically; map its typed columns;
2. one ``SELECT id, raw, deleted_at, last_seen_at ... WHERE id IN (batch)`` to classify every object
   as *added* (new, or a revived tombstone), *changed* (stored raw text differs), *unchanged*,
   *stale* (an older observation than the row's) or *gone* (the kind's ``gone`` predicate: Heat's
   DELETE_COMPLETE, Nova's DELETED in changes-since), which is tombstoned;
3. one bulk ``INSERT ... ON CONFLICT (cloud, id) DO UPDATE ... WHERE`` the stored observation is not
   newer, for added + changed rows (on SQLite changed rows are instead updated in the columns whose
   values differ only: :meth:`SnapshotWriter._narrow_updates`); one bulk ``UPDATE ... SET
   last_seen_at, last_sync_id`` for unchanged rows;
4. link rows of added/changed parents are replaced wholesale (bulk delete + bulk insert); on SQLite
   a changed parent's only when they differ from those of its stored raw.

:meth:`tombstone_missing` (after a complete listing only: live rows neither written by the listing's
run nor observed since the listing began), :meth:`mark_deleted` (targeted 404s) and
:meth:`purge_tombstones` (retention) complete the set. Writes of a poller run pass the run's
:class:`~app.db.fence.Fence`: a run whose process lost the poller lease writes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, and_, bindparam, cast, delete, or_, select, update

from app.db.bookkeeping import snapshot_versions
from app.db.changelog import ChangeBatch
from app.db.engine import Database, PreSerialized, dialect_insert, utcnow
from app.db.fence import Fence
from app.db.prepare import Prepared, links_differ, prepare_page
from app.resources.base import ResourceSpec

IN_CHUNK = 500
LINK_CHUNK = 5000  # link rows per INSERT statement execution
# Objects per write transaction: bounds how long the database write lock is held (a fraction of a
# second), so lease renewals, write-through refreshes and other processes get in between. Larger
# batches write each touched index page once for more rows: at 100,000 servers on SQLite, 1,000 per
# transaction wrote 8 GB instead of 15 GB (WAL and checkpoints) and took 123 s instead of 172 s.
WRITE_BATCH = 1000


@dataclass
class PageCounts:
    """What one write did: objects ``seen``; rows ``added`` (new or revived), ``changed``, ``unchanged``,
    ``tombstoned`` (objects whose status means gone) and ``stale`` (older observations than stored)."""

    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    stale: int = 0

    def __iadd__(self, other: PageCounts) -> PageCounts:
        self.seen += other.seen
        self.added += other.added
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.tombstoned += other.tombstoned
        self.stale += other.stale
        return self


def _chunks(seq: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


async def insert_rows(conn: Any, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run an INSERT for ``rows`` as multi-row ``VALUES (...), (...)`` statements: with RETURNING,
    SQLAlchemy sends the rows in batches per statement ("insertmanyvalues", within the driver's
    parameter limit) where a plain executemany runs the statement once per row. On SQLite that cut the
    writer's CPU time for a first sync of 10,000 servers by ~25 %."""
    if rows:
        await conn.execute(stmt.returning(stmt.table.c[0]), rows)


def _parent_column(child: Table) -> str:
    return f"{child.info['parent']}_id"


def _live(stored: tuple[str, datetime | None, datetime] | None) -> bool:
    """A stored row (raw text, deleted_at, last_seen_at) exists and is live."""
    return stored is not None and stored[1] is None


def _gone_before(table: Table, cloud: str, ids: Sequence[str], observed: datetime) -> Any:
    """Live rows among ``ids`` observed alive no later than ``observed`` (so a 404 then may tombstone them)."""
    return and_(table.c.cloud == cloud, table.c.id.in_(list(ids)), table.c.deleted_at.is_(None),
                table.c.last_seen_at <= observed)


def not_newer_than(table: Table, observed: Any) -> Any:
    """The stored row holds no observation newer than ``observed`` (alive or gone)."""
    return and_(table.c.last_seen_at <= observed, or_(table.c.deleted_at.is_(None), table.c.deleted_at <= observed))


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
        self, spec: ResourceSpec, cloud: str, raws: Sequence[dict[str, Any]], sync_id: int, now: datetime,
        *, observed_at: datetime | None = None, fence: Fence | None = None, log_changes: bool = False,
        prepared: dict[str, Prepared] | None = None,
    ) -> PageCounts:
        """Write one page of objects OpenStack returned at ``observed_at`` (default ``now``); see the
        module docstring. Objects without an id are skipped. ``log_changes``: also append what changed
        to ``snapshot_changes`` (app/db/changelog.py). ``prepared``: the page already prepared by
        :func:`app.db.prepare.prepare_page` (``raws`` is then not read)."""
        if prepared is None:
            prepared = await prepare_page(spec, raws)
        counts = PageCounts(seen=len(prepared))
        seen_at = observed_at or now
        ids = list(prepared)
        for batch in _chunks(ids, WRITE_BATCH):
            log = ChangeBatch(spec, cloud, sync_id) if log_changes else None
            counts += await self._write_batch(spec, cloud, {i: prepared[i] for i in batch}, sync_id, seen_at, fence,
                                              log)
        counts.seen = len(prepared)
        return counts

    async def _write_batch(
        self, spec: ResourceSpec, cloud: str, prepared: dict[str, Prepared], sync_id: int, seen_at: datetime,
        fence: Fence | None, log: ChangeBatch | None = None,
    ) -> PageCounts:
        table = spec.table
        counts = PageCounts()
        # SQLite: a changed live row is updated in the columns that differ only (see _narrow_updates), so
        # its stored column values are read here; the read and the update share one write transaction
        # that holds the database's write lock. PostgreSQL keeps the whole-row upsert: it skips index
        # work for unchanged values itself (HOT), and its transactions do not serialise whole.
        narrow = self.db.is_sqlite
        compared = list(dict.fromkeys([*(spec.columns if narrow else ()), *(log.columns if log is not None else ())]))
        async with self.db.writer(fence) as conn:
            existing: dict[str, tuple[str, datetime | None, datetime]] = {}
            old_values: dict[str, Any] = {}
            rows = await conn.execute(
                select(table.c.id, cast(table.c.raw, Text), table.c.deleted_at, table.c.last_seen_at,
                       *(table.c[c] for c in compared)).where(table.c.cloud == cloud, table.c.id.in_(list(prepared)))
            )
            for row in rows:
                rid, raw_text, deleted_at, last_seen = row[:4]
                existing[rid] = (raw_text, deleted_at, last_seen)
                if compared:
                    old_values[rid] = row._mapping

            upserts: list[dict[str, Any]] = []
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            relink: list[str] = []  # updated rows whose link rows differ
            unchanged: list[str] = []
            gone: list[str] = []
            for rid, p in prepared.items():
                old = existing.get(rid)
                if old is not None and seen_at < (old[1] or old[2]):
                    counts.stale += 1  # a newer observation is stored already
                    continue
                if p.gone:
                    if old is not None and old[1] is None:
                        gone.append(rid)
                    continue
                if old is None or old[1] is not None:
                    counts.added += 1
                elif old[0] != p.text:
                    counts.changed += 1
                else:
                    unchanged.append(rid)
                    continue
                row = spec.map_row(p.clean)
                was_live = _live(old)
                if log is not None:
                    if not was_live:
                        log.created(rid, seen_at, row)
                    else:
                        log.changed(rid, seen_at, old_values[rid], row)
                if narrow and was_live:
                    stored = old_values[rid]
                    differ = tuple(k for k, v in row.items() if stored[k] != v)
                    updates.setdefault(differ, []).append(
                        {**{k: row[k] for k in differ}, "raw": PreSerialized(p.text), "b_id": rid})
                    if spec.children and links_differ(spec, old[0], p.clean):
                        relink.append(rid)
                    continue
                row.update(cloud=cloud, id=rid, raw=PreSerialized(p.text), first_seen_at=seen_at,
                           last_seen_at=seen_at, last_sync_id=sync_id, deleted_at=None)
                upserts.append(row)
            counts.unchanged = len(unchanged)

            if upserts:
                stmt = dialect_insert(self.db.dialect_name, table)
                keep_first_seen = {"cloud", "id", "first_seen_at"}
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.cloud, table.c.id],
                    set_={k: stmt.excluded[k] for k in upserts[0] if k not in keep_first_seen},
                    where=not_newer_than(table, stmt.excluded.last_seen_at),
                )
                await insert_rows(conn, stmt, upserts)
            await self._narrow_updates(conn, table, cloud, updates, seen_at, sync_id)
            written = [r["id"] for r in upserts] + relink
            if written:
                # Only rows that were live have link rows (tombstoning drops them): new and revived ones skip the delete.
                await self._replace_children(conn, spec, cloud, [(rid, prepared[rid].clean) for rid in written],
                                             linked=[rid for rid in written if _live(existing.get(rid))])
            changed = bool(upserts or updates)
            if unchanged:
                await conn.execute(
                    update(table)
                    .where(table.c.cloud == cloud, table.c.id.in_(unchanged), table.c.deleted_at.is_(None),
                           table.c.last_seen_at <= seen_at)
                    .values(last_seen_at=seen_at, last_sync_id=sync_id)
                )
            if gone:
                counts.tombstoned = await self._tombstone(conn, spec, cloud, gone, seen_at, sync_id, log)
                changed = changed or bool(counts.tombstoned)
            if changed:
                await self._bump(conn, spec, cloud, utcnow())
            if log is not None:
                await log.flush(conn)
        return counts

    @staticmethod
    async def _narrow_updates(conn: Any, table: Table, cloud: str, groups: dict[tuple[str, ...], list[dict[str, Any]]],
                              seen_at: datetime, sync_id: int) -> None:
        """Update changed live rows in ``raw``, the bookkeeping and only the columns whose values differ
        (one executemany per set of differing columns), unless a newer observation is stored.

        SQLite rewrites the entries of every index on a column an UPDATE sets, whether its value changed
        or not: the whole-row upsert of a server whose status changed rewrote all 19 of its live-row
        indexes (measured at 100,000 servers: ~22,000 WAL pages for an incremental sync of 1,000 changed
        servers), where a stop changes 4-6 indexed columns."""
        for differ, rows in groups.items():
            stmt = (update(table)
                    .where(table.c.cloud == cloud, table.c.id == bindparam("b_id"), not_newer_than(table, seen_at))
                    .values({**{k: bindparam(k) for k in (*differ, "raw")}, "last_seen_at": seen_at,
                             "last_sync_id": sync_id}))
            await conn.execute(stmt, rows)

    async def _tombstone(
        self, conn: Any, spec: ResourceSpec, cloud: str, ids: Sequence[str], observed: datetime, sync_id: int | None,
        log: ChangeBatch | None = None,
    ) -> int:
        """Tombstone the live rows among ``ids`` whose newest observation is not newer than ``observed``."""
        return await self._tombstone_where(conn, spec, cloud, _gone_before(spec.table, cloud, ids, observed),
                                           observed, sync_id, log)

    async def _tombstone_where(
        self, conn: Any, spec: ResourceSpec, cloud: str, eligible: Any, at: datetime, sync_id: int | None,
        log: ChangeBatch | None,
    ) -> int:
        table = spec.table
        if spec.children:
            await self._drop_children(conn, spec, cloud, select(table.c.id).where(eligible).scalar_subquery())
        values: dict[str, Any] = {"deleted_at": at}
        if sync_id is not None:
            values["last_sync_id"] = sync_id
        stmt = update(table).where(eligible).values(**values)
        if log is None:
            return int((await conn.execute(stmt)).rowcount or 0)
        gone = (await conn.execute(stmt.returning(table.c.id, *(table.c[c] for c in log.columns)))).mappings().all()
        log.deleted(gone, at)
        return len(gone)

    async def _replace_children(
        self, conn: Any, spec: ResourceSpec, cloud: str, parents: Sequence[tuple[str, dict[str, Any]]],
        linked: Sequence[str],
    ) -> None:
        """Replace the link rows of ``parents``; ``linked``: those of them that may have link rows now."""
        for child in spec.children:
            pcol = _parent_column(child.table)
            for chunk in _chunks(linked):
                await conn.execute(
                    delete(child.table).where(child.table.c.cloud == cloud, child.table.c[pcol].in_(chunk))
                )
            rows = ({**r, "cloud": cloud, pcol: pid} for pid, clean in parents for r in child.rows(clean))
            # In chunks: a batch of 1,000 projects has 78,000 quota rows, whose parameters SQLAlchemy
            # would otherwise build all at once (~70 MB resident while they are written).
            while chunk := list(itertools.islice(rows, LINK_CHUNK)):
                await insert_rows(conn, child.table.insert(), chunk)

    async def _drop_children(self, conn: Any, spec: ResourceSpec, cloud: str, parent_ids: Any) -> None:
        """Delete link rows of ``parent_ids`` (a list or a subquery of ids)."""
        for child in spec.children:
            pcol = _parent_column(child.table)
            await conn.execute(
                delete(child.table).where(child.table.c.cloud == cloud, child.table.c[pcol].in_(parent_ids))
            )

    async def tombstone_missing(
        self, spec: ResourceSpec, cloud: str, sync_id: int, now: datetime,
        *, listed_since: datetime | None = None, fence: Fence | None = None, log_changes: bool = False,
    ) -> int:
        """After a complete, error-free listing by run ``sync_id`` that began at ``listed_since``:
        tombstone the live rows it did not see.

        A row is left alone when it was written by this or a later run (``last_sync_id``), or observed
        alive since the listing began (``last_seen_at``: a targeted refresh during the listing, even
        one whose run started earlier). Candidates are found without the write lock; each chunk is
        re-checked and tombstoned in its own short transaction."""
        table = spec.table
        since = listed_since or now
        missing = and_(table.c.cloud == cloud, table.c.deleted_at.is_(None), table.c.last_sync_id < sync_id,
                       table.c.last_seen_at < since)
        async with self.db.reader() as conn:
            candidates = list((await conn.execute(select(table.c.id).where(missing))).scalars())
        return await self._tombstone_in_batches(
            spec, cloud, candidates, lambda chunk: and_(missing, table.c.id.in_(list(chunk))), now, now,
            sync_id=sync_id, mark_run=False, fence=fence, log_changes=log_changes)

    async def _tombstone_in_batches(
        self, spec: ResourceSpec, cloud: str, ids: Sequence[str], where: Any, at: datetime, now: datetime, *,
        sync_id: int | None, mark_run: bool, fence: Fence | None, log_changes: bool,
    ) -> int:
        """Tombstone ``ids`` matching ``where(chunk)`` in short transactions of WRITE_BATCH ids."""
        total = 0
        for chunk in _chunks(ids, WRITE_BATCH):
            async with self.db.writer(fence) as conn:
                log = ChangeBatch(spec, cloud, sync_id) if log_changes else None
                n = await self._tombstone_where(conn, spec, cloud, where(chunk), at, sync_id if mark_run else None, log)
                if n:
                    total += n
                    await self._bump(conn, spec, cloud, now)
                if log is not None:
                    await log.flush(conn)
        return total

    async def mark_deleted(
        self, spec: ResourceSpec, cloud: str, ids: Sequence[str], now: datetime, sync_id: int | None = None,
        *, observed_at: datetime | None = None, fence: Fence | None = None, log_changes: bool = False,
    ) -> int:
        """Tombstone the given live rows: OpenStack said at ``observed_at`` (default ``now``) that they
        are gone. A row observed alive after that is left alone. Returns how many were tombstoned."""
        table = spec.table
        observed = observed_at or now

        return await self._tombstone_in_batches(
            spec, cloud, list(dict.fromkeys(ids)), lambda chunk: _gone_before(table, cloud, chunk, observed),
            observed, now, sync_id=sync_id, mark_run=True, fence=fence, log_changes=log_changes)

    async def analyze(self, spec: ResourceSpec) -> None:
        """Update planner statistics of a kind's table and link tables (sampled on SQLite: cheap)."""
        names = [spec.table.name, *(c.table.name for c in spec.children)]
        async with self.db.writer() as conn:
            if self.db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            for name in names:
                await conn.exec_driver_sql(f'ANALYZE "{name}"')

    async def purge_tombstones(
        self, spec: ResourceSpec, cloud: str, older_than: datetime, *, fence: Fence | None = None
    ) -> int:
        """Retention: delete rows tombstoned before ``older_than`` (their link rows went at tombstoning)."""
        table = spec.table
        async with self.db.writer(fence) as conn:
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
