"""Consistency: a fencing epoch on the poller lease, and the identity of each cloud label.

* ``poller_lease.epoch``: incremented every time the lease changes hands. Every write transaction of
  a poller run checks (and extends) the lease with its owner and epoch, so a holder that lost the
  lease can never write again (app/db/fence.py).
* ``cloud_identities``: which cloud (auth URL, region, project) a label's rows came from, as a
  fingerprint; a server configured for another cloud under the same label is refused instead of
  serving (and tombstoning) the other cloud's rows.

Revision ID: 0008_consistency
Revises: 0007_sync_state
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_consistency"
down_revision: str | None = "0007_sync_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTITIES_DOC = ("Which cloud each label's rows come from: a fingerprint of auth URL, region and project, "
                  "checked at start-up so two clouds never share a label.")


def upgrade() -> None:
    with op.batch_alter_table("poller_lease", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "cloud_identities",
        sa.Column("cloud", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("auth_url", sa.String(length=512), nullable=True),
        sa.Column("region", sa.String(length=128), nullable=True),
        sa.Column("project", sa.String(length=256), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cloud", name=op.f("pk_cloud_identities")),
        comment=IDENTITIES_DOC,
    )


def downgrade() -> None:
    op.drop_table("cloud_identities")
    with op.batch_alter_table("poller_lease", schema=None) as batch_op:
        batch_op.drop_column("epoch")
