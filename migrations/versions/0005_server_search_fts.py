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

revision: str = "0005_server_search_fts"
down_revision: str | None = "0004_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("name", "status", "host", "hypervisor_hostname", "availability_zone", "flavor_name", "image_id",
           "project_id")
IPS = ("(SELECT group_concat(json_extract(a.value, '$.addr'), char(10)) "
       "FROM json_each({row}.raw, '$.addresses') AS n, json_each(n.value) AS a)")


def _values(row: str) -> str:
    return ", ".join([f"{row}.rowid", f"{row}.cloud", *(f"{row}.{c}" for c in COLUMNS), IPS.format(row=row)])


def _trigram_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp._fts_probe USING fts5(x, tokenize='trigram')")
    except Exception:  # noqa: BLE001 - no FTS5, or no trigram tokenizer (SQLite < 3.34)
        return False
    bind.exec_driver_sql("DROP TABLE temp._fts_probe")
    return True


def upgrade() -> None:
    if not _trigram_available():
        return
    cols = ", ".join(COLUMNS)
    watched = ", ".join(("cloud", *COLUMNS, "raw", "deleted_at"))
    changed = " OR ".join(
        [f"OLD.{c} IS NOT NEW.{c}" for c in ("cloud", *COLUMNS, "deleted_at")]
        + ["json_extract(OLD.raw, '$.addresses') IS NOT json_extract(NEW.raw, '$.addresses')"])
    for sql in (
        f"CREATE VIRTUAL TABLE servers_fts USING fts5(cloud UNINDEXED, {cols}, ips, tokenize='trigram')",
        f"INSERT INTO servers_fts(rowid, cloud, {cols}, ips) SELECT {_values('servers')} FROM servers "
        "WHERE servers.deleted_at IS NULL",
        f"CREATE TRIGGER servers_fts_ai AFTER INSERT ON servers WHEN NEW.deleted_at IS NULL BEGIN "
        f"INSERT INTO servers_fts(rowid, cloud, {cols}, ips) VALUES ({_values('NEW')}); END",
        "CREATE TRIGGER servers_fts_ad AFTER DELETE ON servers WHEN OLD.deleted_at IS NULL BEGIN "
        "DELETE FROM servers_fts WHERE rowid = OLD.rowid; END",
        f"CREATE TRIGGER servers_fts_au AFTER UPDATE OF {watched} ON servers WHEN {changed} BEGIN "
        "DELETE FROM servers_fts WHERE rowid = OLD.rowid; "
        f"INSERT INTO servers_fts(rowid, cloud, {cols}, ips) SELECT {_values('NEW')} WHERE NEW.deleted_at IS NULL; "
        "END",
    ):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("servers_fts_ai", "servers_fts_ad", "servers_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS servers_fts")
