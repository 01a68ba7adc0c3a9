"""server substring search: an SQLite FTS5 trigram index over the live servers' searchable fields.

``search_instances`` matches substrings of name, status, host, hypervisor_hostname, availability
zone, flavor name, image id, project id and IP addresses. A ``LIKE '%term%'`` cannot use a b-tree
index, so at 50,000 servers every search scanned (tens to hundreds of ms, 11 scans for
``search_in="all"``). ``servers_fts`` holds one document per *live* server (rowid = the server's
rowid, one column per field, IPs joined by newlines, ``cloud`` unindexed) with the ``trigram``
tokenizer, so a phrase query ``{name host}: "term"`` finds candidates for any term of 3+
characters through the index; the read side re-checks candidates with the exact predicate (LIKE /
instr) on the FTS table's own narrow copy of the text. Triggers on ``servers`` keep it current
(tombstoned rows leave the index). On databases without FTS5 trigram (SQLite < 3.34) and on
PostgreSQL nothing is created and search falls back to LIKE.

Revision ID: 0005_server_search_fts
Revises: 0004_operations
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from migrations import server_fts

revision: str = "0005_server_search_fts"
down_revision: str | None = "0004_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("name", "status", "host", "hypervisor_hostname", "availability_zone", "flavor_name", "image_id",
           "project_id")


def upgrade() -> None:
    if server_fts.trigram_available():
        server_fts.create(COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        server_fts.drop()
