"""PostgreSQL substring search: pg_trgm GIN indexes over the searched columns (no-op on SQLite).

SQLite answers ``search_instances`` through the FTS5 trigram table of 0005. On PostgreSQL the search is
``col ILIKE '%term%'`` (or ``LIKE`` when case-sensitive) per searched column, which a b-tree cannot
serve; a GIN index with ``gin_trgm_ops`` can, for terms of 3+ characters (bitmap index scans OR-ed
together for ``search_in="all"``). The indexes are partial over live rows, like every other index of
the snapshot, so the query's ``deleted_at IS NULL`` lets the planner use them.

The extension is created if the server has it (``pg_trgm`` ships with PostgreSQL's contrib and is a
trusted extension since PostgreSQL 13: the database owner may create it). Without it (or without the
right to create it) the indexes are skipped with a warning and search stays correct, only slower.
The indexes are not in the table metadata (``ixtrgm_`` names are skipped by schema comparison,
app/db/meta.py).

Revision ID: 0009_postgres_search
Revises: 0008_consistency
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op

revision: str = "0009_postgres_search"
down_revision: str | None = "0008_consistency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

PREFIX = "ixtrgm_"
# (table, column): what search_instances and the name filters of the listings match with '%term%'.
COLUMNS = (
    ("servers", "name"), ("servers", "status"), ("servers", "host"), ("servers", "hypervisor_hostname"),
    ("servers", "availability_zone"), ("servers", "flavor_name"), ("servers", "image_id"),
    ("servers", "project_id"), ("server_addresses", "ip_address"),
    ("volumes", "name"), ("ports", "name"), ("networks", "name"), ("images", "name"), ("flavors", "name"),
    ("projects", "name"),
)


def index_name(table: str, column: str) -> str:
    return f"{PREFIX}{table}_{column}"


def _has_trgm() -> bool:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first():
        return True
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first():
        log.warning("pg_trgm is not available on this PostgreSQL server (contrib not installed): "
                    "substring search works without trigram indexes, but scans")
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as e:  # noqa: BLE001 - no privilege: search stays correct without the indexes
        log.warning("could not create the pg_trgm extension (%s): substring search works without "
                    "trigram indexes, but scans", str(e).splitlines()[0])
        return False
    return True


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql" or not _has_trgm():
        return
    for table, column in COLUMNS:
        live = " WHERE deleted_at IS NULL" if table != "server_addresses" else ""
        op.execute(f"CREATE INDEX IF NOT EXISTS {index_name(table, column)} ON {table} "
                   f"USING gin ({column} gin_trgm_ops){live}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS {index_name(table, column)}")
