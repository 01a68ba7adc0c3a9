"""project_quotas and project_quota_items: quotas and usage per project, synced (issue 14).

Revision ID: 0012_project_quotas
Revises: 0011_change_log
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_project_quotas"
down_revision: str | None = "0011_change_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUOTAS_DOC = ("Quotas and usage per project (compute, network, block storage); id = project id. Key resources: "
              "instances, cores, ram_mb, floating_ips, ports, networks, volumes, gigabytes, snapshots.")
ITEMS_DOC = "One row per project, service and resource: limit, in use, reserved, % used."
LIVE = sa.text("deleted_at IS NULL")
GONE = sa.text("deleted_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "project_quotas",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("domain_id", sa.String(length=64), nullable=True),
        sa.Column("max_used_pct", sa.Float(), nullable=True),
        sa.Column("tightest", sa.String(length=64), nullable=True),
        sa.Column("tightest_in_use", sa.Integer(), nullable=True),
        sa.Column("tightest_limit", sa.Integer(), nullable=True),
        sa.Column("at_or_over", sa.Integer(), nullable=True),
        sa.Column("unavailable", sa.String(length=64), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_sync_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("cloud", "id", name=op.f("pk_project_quotas")),
        comment=QUOTAS_DOC,
    )
    with op.batch_alter_table("project_quotas", schema=None) as batch_op:
        for col in ("name", "max_used_pct", "at_or_over"):
            batch_op.create_index(f"ix_project_quotas_cloud_{col}", ["cloud", col], unique=False,
                                  sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.create_index("ix_project_quotas_cloud_deleted_at", ["cloud", "deleted_at"], unique=False,
                              sqlite_where=GONE, postgresql_where=GONE)
        batch_op.create_index("ix_project_quotas_last_sync_id", ["last_sync_id"], unique=False)

    op.create_table(
        "project_quota_items",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("project_quota_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=True),
        sa.Column("resource", sa.String(length=255), nullable=True),
        sa.Column("quota_limit", sa.Integer(), nullable=True),
        sa.Column("in_use", sa.Integer(), nullable=True),
        sa.Column("reserved", sa.Integer(), nullable=True),
        sa.Column("used_pct", sa.Float(), nullable=True),
        sa.Column("key_resource", sa.Boolean(), nullable=True),
        comment=ITEMS_DOC,
    )
    with op.batch_alter_table("project_quota_items", schema=None) as batch_op:
        batch_op.create_index("ix_project_quota_items_cloud_project_quota_id", ["cloud", "project_quota_id"],
                              unique=False)
        batch_op.create_index("ix_project_quota_items_cloud_resource", ["cloud", "resource", "used_pct"],
                              unique=False)
        batch_op.create_index("ix_project_quota_items_cloud_used_pct", ["cloud", "used_pct"], unique=False)


def downgrade() -> None:
    op.drop_table("project_quota_items")
    op.drop_table("project_quotas")
