"""A sync's write of an unchanged row stays cheap: no index on the snapshot tables' ``last_sync_id``,
and on PostgreSQL room in each page for the row's next version.

Every listing writes ``last_seen_at`` and ``last_sync_id`` of every row it saw unchanged (the
tombstone rule and observation order need both). PostgreSQL updates such a row in place (a HOT
update, no new index entries) only when no indexed column changes and the row's page has room for
the new version; otherwise every index of the table (29 on servers) gets a new entry. Measured at
10,000 servers: one UPDATE of 250 unchanged rows took 170 ms with ``last_sync_id`` indexed, 15 ms in
place; with the index dropped but full pages, 1 % of the updates were HOT, with ``fillfactor = 70``
48 %, and a full listing of 10,000 unchanged servers wrote in ~4 s instead of ~8 s (the table also
stayed smaller: 8,777 pages instead of 12,389). The index served one query, the tombstone pass after a
complete listing, which now reads the cloud's live rows once per full listing (~40 ms per 10,000
servers on SQLite, where the index cost nothing measurable on writes). Downgrading restores both.

Revision ID: 0017_unchanged_row_writes
Revises: 0016_network_page_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_unchanged_row_writes"
down_revision: str | None = "0016_network_page_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 70


def _snapshot_tables() -> list[str]:
    """Tables with the sync marker column: the snapshot tables."""
    insp = sa.inspect(op.get_bind())
    return sorted(t for t in insp.get_table_names() if any(c["name"] == "last_sync_id" for c in insp.get_columns(t)))


def _index(table: str) -> str:
    return f"ix_{table}_last_sync_id"


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _snapshot_tables():
        if any(ix["name"] == _index(table) for ix in insp.get_indexes(table)):
            op.drop_index(_index(table), table_name=table)
        if postgres:
            op.execute(f'ALTER TABLE "{table}" SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _snapshot_tables():
        op.create_index(_index(table), table, ["last_sync_id"])
        if postgres:
            op.execute(f'ALTER TABLE "{table}" RESET (fillfactor)')
