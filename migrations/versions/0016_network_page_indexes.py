"""get_network_details' page without a sort of the fleet's networks, and its router interfaces without a
table scan (issue 11 item 3).

* ``ix_networks_cloud_name`` becomes ``(cloud, name, id)``: a page (ordered by name, then id) is a walk
  of the index. Clouds reuse network names (at 100,000 instances the harness fleet has 2,002 networks
  under 5 names): with ``(cloud, name)`` SQLite sorted every network sharing the first names, reading
  their rows, to return 50 (2.4-6 ms CPU).
* ``ix_router_interfaces_cloud_network_id`` ``(cloud, network_id)``: the page's router interfaces by
  network (they scanned every router interface of every cloud).

Revision ID: 0016_network_page_indexes
Revises: 0015_change_counts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_network_page_indexes"
down_revision: str | None = "0015_change_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_networks_cloud_name", table_name="networks")
    op.create_index("ix_networks_cloud_name", "networks", ["cloud", "name", "id"], unique=False,
                    sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index("ix_router_interfaces_cloud_network_id", "router_interfaces", ["cloud", "network_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_router_interfaces_cloud_network_id", table_name="router_interfaces")
    op.drop_index("ix_networks_cloud_name", table_name="networks")
    op.create_index("ix_networks_cloud_name", "networks", ["cloud", "name"], unique=False,
                    sqlite_where=LIVE, postgresql_where=LIVE)
