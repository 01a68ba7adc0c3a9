"""Read-path indexes whose cost no longer grows with the fleet (issue 11 item 3).

* ``ix_volumes_cloud_status`` becomes ``(cloud, status, name, id)``: the orphaned-volume count
  (``status = 'available'`` and no attachment row) reads the volume id from the index, never the fat
  volume rows, and a page of them (ordered by name, then id) is a walk of the index that stops when
  the page is full, instead of sorting every available volume.
* ``ix_hypervisors_cloud_hypervisor_hostname`` becomes ``(cloud, hypervisor_hostname, id)``: a page of
  get_hypervisor_list (ordered by host name, then id) is one index range walk.

Revision ID: 0014_fleet_read_indexes
Revises: 0013_load_balancers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_fleet_read_indexes"
down_revision: str | None = "0013_load_balancers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
# (table, index, columns after this revision, columns before it)
INDEXES = (
    ("volumes", "ix_volumes_cloud_status", ("cloud", "status", "name", "id"), ("cloud", "status")),
    ("hypervisors", "ix_hypervisors_cloud_hypervisor_hostname", ("cloud", "hypervisor_hostname", "id"),
     ("cloud", "hypervisor_hostname")),
)


def _recreate(table: str, name: str, columns: tuple[str, ...]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, list(columns), unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def upgrade() -> None:
    for table, name, after, _before in INDEXES:
        _recreate(table, name, after)


def downgrade() -> None:
    for table, name, _after, before in INDEXES:
        _recreate(table, name, before)
