"""sync_state: the latest full/incremental outcome per (cloud, kind), backfilled from sync_runs.

Freshness used to aggregate over sync_runs on every read (a week of 30 s polls is ~20,000 rows per
kind); this keeps it a primary-key read.

Revision ID: 0007_sync_state
Revises: 0006_read_path_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_sync_state"
down_revision: str | None = "0006_read_path_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO sync_state (cloud, kind, last_success_at, last_status, last_error, last_finished_at, last_run_id)
SELECT k.cloud, k.kind,
       (SELECT max(s.finished_at) FROM sync_runs s WHERE s.cloud = k.cloud AND s.kind = k.kind
          AND s.mode IN ('full', 'incremental') AND s.status = 'succeeded'),
       n.status, CASE WHEN n.status = 'succeeded' THEN NULL ELSE n.error END, n.finished_at, n.id
FROM (SELECT cloud, kind, max(id) AS newest FROM sync_runs
      WHERE mode IN ('full', 'incremental') AND status <> 'running' GROUP BY cloud, kind) k
JOIN sync_runs n ON n.id = k.newest
"""


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("cloud", "kind", name=op.f("pk_sync_state")),
        comment="Latest full/incremental outcome per kind, kept by the run log in the same transaction as the "
                "run's finish: freshness is one primary-key read, however long sync_runs grows.",
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("sync_state")
