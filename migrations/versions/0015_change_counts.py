"""snapshot_change_counts: the change log counted per hour and minute (app/db/change_counts.py), filled
from the change rows already kept; change-log and sync-run indexes that end in the id their pages
are ordered by (issue 11 item 3, issue 12).

* ``snapshot_changes`` indexes become ``(cloud, at, id)``, ``(cloud, kind, at, id)``,
  ``(cloud, resource_id, at, id)``, plus ``(cloud, project_id, at, id)`` for one project's (or a
  restricted caller's) changes: a page ``ORDER BY at DESC, id DESC`` is an index walk on PostgreSQL
  too (SQLite had the rowid there already).
* ``sync_runs`` gets ``(cloud, id)`` and ``(cloud, kind, id)``: get_sync_status's newest runs (of a
  kind) without sorting the whole run log.

Revision ID: 0015_change_counts
Revises: 0014_fleet_read_indexes
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015_change_counts"
down_revision: str | None = "0014_fleet_read_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOC = ("snapshot_changes counted per time bucket (app/db/change_counts.py), written with the change rows and kept "
       "by their purge: get_changes sums a window from these instead of every change row.")
# (index, columns after this revision, columns before it: None when new)
CHANGE_INDEXES = (
    ("ix_snapshot_changes_cloud_at", ("cloud", "at", "id"), ("cloud", "at")),
    ("ix_snapshot_changes_cloud_kind_at", ("cloud", "kind", "at", "id"), ("cloud", "kind", "at")),
    ("ix_snapshot_changes_cloud_resource_id_at", ("cloud", "resource_id", "at", "id"), ("cloud", "resource_id", "at")),
    ("ix_snapshot_changes_cloud_project_id_at", ("cloud", "project_id", "at", "id"), None),
)
RUN_INDEXES = (("ix_sync_runs_cloud_id", ("cloud", "id")), ("ix_sync_runs_cloud_kind_id", ("cloud", "kind", "id")))
CHUNK = 5000
# A frozen copy of the counting rules of app/db/change_counts.py as of this revision: a migration must
# not import app code, which moves on (an older checkout could not even load this file).
WIDTHS = (3600, 60)
PROJECT_WIDTHS = (3600,)
EPOCH = datetime(1970, 1, 1)
KEY = ("cloud", "width", "project_id", "bucket", "kind", "change", "status_before", "status_after")


def _transition(change: str, before: Any, after: Any) -> tuple[str, str]:
    if change != "changed" or not isinstance(before, dict) or not isinstance(after, dict):
        return "", ""
    old, new = before.get("status"), after.get("status")
    if old is None or new is None:
        return "", ""
    return tuple((v if isinstance(v, str) else json.dumps(v))[:255] for v in (old, new))  # type: ignore[return-value]


def _count(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        at, (old, new) = r["at"], _transition(r["change"], r["before"], r["after"])
        projects = ("", r["project_id"]) if r["project_id"] else ("",)
        for width in WIDTHS:
            step = timedelta(seconds=width)
            bucket = EPOCH + (at - EPOCH) // step * step
            for project in projects if width in PROJECT_WIDTHS else ("",):
                v = out.setdefault((r["cloud"], width, project, bucket, r["kind"], r["change"], old, new), [0, at, at])
                v[0] += 1
                v[1], v[2] = min(v[1], at), max(v[2], at)
    return [{**dict(zip(KEY, k)), "n": n, "first_at": first, "last_at": last} for k, (n, first, last) in out.items()]


def upgrade() -> None:
    counts = op.create_table(
        "snapshot_change_counts",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("status_before", sa.String(length=255), nullable=False),
        sa.Column("status_after", sa.String(length=255), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cloud", "width", "project_id", "bucket", "kind", "change", "status_before",
                                "status_after", name=op.f("pk_snapshot_change_counts")),
        comment=DOC,
    )
    _fill(counts)
    for name, after, before in CHANGE_INDEXES:
        if before is not None:
            op.drop_index(name, table_name="snapshot_changes")
        op.create_index(name + "_id", "snapshot_changes", list(after), unique=False)
    for name, columns in RUN_INDEXES:
        op.create_index(name, "sync_runs", list(columns), unique=False)


def _fill(counts: sa.Table) -> None:
    """Count the change rows already kept, read in id order a chunk at a time (no server-side cursor:
    PostgreSQL would keep the table busy for the index changes that follow)."""
    t = sa.table("snapshot_changes", *(sa.column(c) for c in ("id", "cloud", "kind", "change", "project_id")),
                 sa.column("at", sa.DateTime()), sa.column("before", sa.JSON()), sa.column("after", sa.JSON()))
    conn = op.get_bind()

    def chunks() -> Iterator[Any]:
        last = None
        while True:
            stmt = sa.select(t).order_by(t.c.id).limit(CHUNK)
            got = conn.execute(stmt if last is None else stmt.where(t.c.id > last)).mappings().all()
            yield from got
            if len(got) < CHUNK:
                return
            last = got[-1]["id"]

    values = _count(chunks())
    for i in range(0, len(values), CHUNK):
        op.bulk_insert(counts, values[i:i + CHUNK])


def downgrade() -> None:
    for name, columns in RUN_INDEXES:
        op.drop_index(name, table_name="sync_runs")
    for name, after, before in CHANGE_INDEXES:
        op.drop_index(name + "_id", table_name="snapshot_changes")
        if before is not None:
            op.create_index(name, "snapshot_changes", list(before), unique=False)
    op.drop_table("snapshot_change_counts")
