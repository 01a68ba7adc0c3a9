"""snapshot_versions: a data version per (cloud, kind), bumped by the snapshot writer.

Revision ID: 0003_snapshot_versions
Revises: 0002_reporting_views
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_snapshot_versions"
down_revision: str | None = "0002_reporting_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snapshot_versions",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cloud", "kind", name=op.f("pk_snapshot_versions")),
        comment="Data version per kind: lets derived reports be cached until the data they read changes.",
    )


def downgrade() -> None:
    op.drop_table("snapshot_versions")
