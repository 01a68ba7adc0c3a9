"""snapshot_changes: an append-only log of row changes (created, changed, deleted) written by the sync.

Revision ID: 0011_change_log
Revises: 0010_total_order
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_change_log"
down_revision: str | None = "0010_total_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOC = ("Append-only log of snapshot row changes written by the sync itself (not on a kind's first sync), kept "
       "OPS_CHANGE_RETENTION_DAYS: what changed when, with before/after values of typed columns.")


def upgrade() -> None:
    op.create_table(
        "snapshot_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_changes")),
        comment=DOC,
    )
    with op.batch_alter_table("snapshot_changes", schema=None) as batch_op:
        batch_op.create_index("ix_snapshot_changes_cloud_at", ["cloud", "at"], unique=False)
        batch_op.create_index("ix_snapshot_changes_cloud_kind_at", ["cloud", "kind", "at"], unique=False)
        batch_op.create_index("ix_snapshot_changes_cloud_resource_id_at", ["cloud", "resource_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("snapshot_changes")
