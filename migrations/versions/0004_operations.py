"""operations (audit log of management calls) and confirmation_tokens (hashed, single-use tokens of
destructive actions), both shared by every replica using the database.

Revision ID: 0004_operations
Revises: 0003_snapshot_versions
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_operations"
down_revision: str | None = "0003_snapshot_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATIONS_DOC = "Audit log of every management tool call (including previews, refused and failed calls)."
TOKENS_DOC = "Pending and used confirmation tokens of destructive management actions (hashed, single use)."


def upgrade() -> None:
    op.create_table(
        "confirmation_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("binding", sa.String(length=64), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_confirmation_tokens")),
        comment=TOKENS_DOC,
    )
    with op.batch_alter_table("confirmation_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_confirmation_tokens_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_ids", sa.JSON(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
        comment=OPERATIONS_DOC,
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index("ix_operations_cloud_at", ["cloud", "at"], unique=False)
        batch_op.create_index("ix_operations_cloud_tool", ["cloud", "tool"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_cloud_tool")
        batch_op.drop_index("ix_operations_cloud_at")
    op.drop_table("operations")
    with op.batch_alter_table("confirmation_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmation_tokens_expires_at")
    op.drop_table("confirmation_tokens")
