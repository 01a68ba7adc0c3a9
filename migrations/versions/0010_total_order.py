"""Listings in the order they promise (name, then id; addresses numerically).

* ``floating_ips.address_key``: the floating IP address as a sortable key (IP version, then the address
  as 32 hex digits), so get_floating_ips lists ``.49`` before ``.119`` and IPv4 before IPv6; backfilled
  here, computed by the mapping afterwards. Indexed ``(cloud, address_key, id)`` over live rows. On
  SQLite the table is rebuilt so that ``raw`` stays the last column (its overflow pages are never read
  for the other columns); PostgreSQL just adds the column.
* ``ix_servers_cloud_name`` becomes ``(cloud, name, id)`` and ``ix_servers_cloud_status``
  ``(cloud, status, name, id)``: instance pages are ordered by name then id (ties used to come back in
  rowid order), still one range walk of the index.

Revision ID: 0010_total_order
Revises: 0009_postgres_search
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010_total_order"
down_revision: str | None = "0009_postgres_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
KEY_INDEX = "ix_floating_ips_cloud_address_key"
# (table, index, columns after this revision, columns before it)
SERVER_INDEXES = (
    ("servers", "ix_servers_cloud_name", ("cloud", "name", "id"), ("cloud", "name")),
    ("servers", "ix_servers_cloud_status", ("cloud", "status", "name", "id"), ("cloud", "status", "name")),
)


def ip_sort_key(address: Any) -> str | None:
    """Same as app.resources._common.ip_sort_key at this revision (migrations do not import app code)."""
    if address is None or address == "":
        return None
    text = str(address).strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return ("9" + text)[:40]
    return f"{ip.version}{int(ip):032x}"


def _recreate(table: str, name: str, columns: tuple[str, ...]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, list(columns), unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def _rebuild_sqlite_with_key(bind: Any) -> None:
    """floating_ips rebuilt with address_key before the bookkeeping columns (raw stays last), every
    existing index recreated from its own SQL."""
    create = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type='table' AND name='floating_ips'").scalar()
    indexes = [r[0] for r in bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='floating_ips' AND sql IS NOT NULL")]
    cols = [r[1] for r in bind.exec_driver_sql('PRAGMA table_info("floating_ips")')]
    marker = "first_seen_at DATETIME NOT NULL"
    assert create.count(marker) == 1, create
    new = re.sub(r'^CREATE TABLE\s+(["`]?)floating_ips\1', "CREATE TABLE floating_ips_0010", create.lstrip(), count=1)
    new = new.replace(marker, "address_key VARCHAR(40), " + marker, 1)
    assert "floating_ips_0010" in new, new
    listed = ", ".join(f'"{c}"' for c in cols)
    bind.exec_driver_sql(new)
    bind.exec_driver_sql(f"INSERT INTO floating_ips_0010 ({listed}) SELECT {listed} FROM floating_ips")
    bind.exec_driver_sql("DROP TABLE floating_ips")
    bind.exec_driver_sql("ALTER TABLE floating_ips_0010 RENAME TO floating_ips")
    for sql in indexes:
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite_with_key(bind)
    else:
        op.add_column("floating_ips", sa.Column("address_key", sa.String(length=40), nullable=True))
    rows = bind.execute(sa.text("SELECT cloud, id, floating_ip_address FROM floating_ips")).all()
    for cloud, rid, address in rows:
        bind.execute(sa.text("UPDATE floating_ips SET address_key = :k WHERE cloud = :c AND id = :i"),
                     {"k": ip_sort_key(address), "c": cloud, "i": rid})
    op.create_index(KEY_INDEX, "floating_ips", ["cloud", "address_key", "id"], unique=False,
                    sqlite_where=LIVE, postgresql_where=LIVE)
    for table, name, after, _before in SERVER_INDEXES:
        _recreate(table, name, after)


def downgrade() -> None:
    for table, name, _after, before in SERVER_INDEXES:
        _recreate(table, name, before)
    op.drop_index(KEY_INDEX, table_name="floating_ips")
    op.drop_column("floating_ips", "address_key")  # SQLite 3.35+: ALTER TABLE DROP COLUMN (raw stays last)
