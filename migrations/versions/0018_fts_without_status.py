"""servers_fts without ``status``: a status change no longer rewrites the server's search document.

A status is the field that changes most (every stop, start, reboot, build, error), and each change
fired the FTS update trigger of 0005, which deletes the server's trigram document and inserts it again
(every searched column and the addresses). Measured on a copy of a 100,000-server snapshot (SQLite
3.46): upserting 1,000 rows whose status changed took 0.94-1.41 s with 0005's table and 0.48 s
without ``status`` in it; that upsert was most of an incremental sync of 1 % of the fleet. Status
substring search needs no trigram index: a cloud has a handful of distinct statuses, which the read
side finds by skipping through the ``(cloud, status)`` live-row index and matches there
(app/services/instance_search.py). SQLite with FTS5 trigram only; elsewhere nothing changes.
Downgrading restores 0005's table.

Revision ID: 0018_fts_without_status
Revises: 0017_unchanged_row_writes
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from migrations import server_fts

revision: str = "0018_fts_without_status"
down_revision: str | None = "0017_unchanged_row_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("name", "status", "host", "hypervisor_hostname", "availability_zone", "flavor_name", "image_id",
          "project_id")
AFTER = tuple(c for c in BEFORE if c != "status")


def _rebuild(columns: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name != "sqlite" or not server_fts.exists():
        return  # PostgreSQL, or an SQLite without FTS5 trigram: 0005 created nothing
    server_fts.drop()
    server_fts.create(columns)


def upgrade() -> None:
    _rebuild(AFTER)


def downgrade() -> None:
    _rebuild(BEFORE)
