"""read paths at 50,000 instances: live partial indexes that also carry the hot ORDER BY / second test.

* ``ix_servers_cloud_status`` becomes ``(cloud, status, name)``: ``get_instances_by_status`` pages
  (ordered by name, ties by rowid, which every index entry ends with) are one range walk of the index,
  and the exact total is an index-only count of the same range.
* ``ix_servers_cloud_flavor_name`` becomes ``(cloud, flavor_name, flavor_id)``: servers per flavor on
  compute 2.47+ (``flavor_id IS NULL``, counted by name) no longer visit the table rows.
* ``ix_volumes_cloud_name`` becomes ``(cloud, name, id)``: the list order (name, id) is the index order,
  so a deep page (``offset 10000``) is an index-only walk instead of a sort of every live volume.

All stay partial ``WHERE deleted_at IS NULL`` and keep their names (they still serve the single-column
filters the conformance test requires).

Revision ID: 0006_read_path_indexes
Revises: 0005_server_search_fts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_read_path_indexes"
down_revision: str | None = "0005_server_search_fts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
# (table, index, columns after this revision, columns before it)
CHANGES = (
    ("servers", "ix_servers_cloud_status", ("cloud", "status", "name"), ("cloud", "status")),
    ("servers", "ix_servers_cloud_flavor_name", ("cloud", "flavor_name", "flavor_id"), ("cloud", "flavor_name")),
    ("volumes", "ix_volumes_cloud_name", ("cloud", "name", "id"), ("cloud", "name")),
)


def _recreate(table: str, name: str, columns: tuple[str, ...]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, list(columns), unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def upgrade() -> None:
    for table, name, after, _before in CHANGES:
        _recreate(table, name, after)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        # A synced database has planner statistics (the sync runs ANALYZE): give the new shapes theirs.
        bind.exec_driver_sql("PRAGMA analysis_limit=1000")
        bind.exec_driver_sql("ANALYZE servers")
        bind.exec_driver_sql("ANALYZE volumes")


def downgrade() -> None:
    for table, name, _after, before in CHANGES:
        _recreate(table, name, before)
