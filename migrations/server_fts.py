"""The SQLite FTS5 trigram table ``servers_fts`` and its triggers, for the migrations that create or
reshape it (0005, 0018): one document per live server (rowid = the server's rowid, ``cloud``
unindexed, one column per searched field, IPs joined by newlines), kept current by triggers that fire
only when a searched column, the addresses or ``deleted_at`` change."""

from __future__ import annotations

from alembic import op

TABLE = "servers_fts"
TRIGGERS = ("servers_fts_ai", "servers_fts_ad", "servers_fts_au")
IPS = ("(SELECT group_concat(json_extract(a.value, '$.addr'), char(10)) "
       "FROM json_each({row}.raw, '$.addresses') AS n, json_each(n.value) AS a)")


def _values(row: str, columns: tuple[str, ...]) -> str:
    return ", ".join([f"{row}.rowid", f"{row}.cloud", *(f"{row}.{c}" for c in columns), IPS.format(row=row)])


def trigram_available() -> bool:
    """SQLite with FTS5 and its trigram tokenizer (3.34+); never on other databases."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp._fts_probe USING fts5(x, tokenize='trigram')")
    except Exception:  # noqa: BLE001 - no FTS5, or no trigram tokenizer (SQLite < 3.34)
        return False
    bind.exec_driver_sql("DROP TABLE temp._fts_probe")
    return True


def exists() -> bool:
    row = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).first()
    return row is not None


def create(columns: tuple[str, ...]) -> None:
    """The table over ``columns`` of ``servers`` (plus ``ips``), filled from the live rows, and its triggers."""
    cols = ", ".join(columns)
    watched = ", ".join(("cloud", *columns, "raw", "deleted_at"))
    changed = " OR ".join(
        [f"OLD.{c} IS NOT NEW.{c}" for c in ("cloud", *columns, "deleted_at")]
        + ["json_extract(OLD.raw, '$.addresses') IS NOT json_extract(NEW.raw, '$.addresses')"])
    for sql in (
        f"CREATE VIRTUAL TABLE {TABLE} USING fts5(cloud UNINDEXED, {cols}, ips, tokenize='trigram')",
        f"INSERT INTO {TABLE}(rowid, cloud, {cols}, ips) SELECT {_values('servers', columns)} FROM servers "
        "WHERE servers.deleted_at IS NULL",
        f"CREATE TRIGGER servers_fts_ai AFTER INSERT ON servers WHEN NEW.deleted_at IS NULL BEGIN "
        f"INSERT INTO {TABLE}(rowid, cloud, {cols}, ips) VALUES ({_values('NEW', columns)}); END",
        f"CREATE TRIGGER servers_fts_ad AFTER DELETE ON servers WHEN OLD.deleted_at IS NULL BEGIN "
        f"DELETE FROM {TABLE} WHERE rowid = OLD.rowid; END",
        f"CREATE TRIGGER servers_fts_au AFTER UPDATE OF {watched} ON servers WHEN {changed} BEGIN "
        f"DELETE FROM {TABLE} WHERE rowid = OLD.rowid; "
        f"INSERT INTO {TABLE}(rowid, cloud, {cols}, ips) SELECT {_values('NEW', columns)} "
        "WHERE NEW.deleted_at IS NULL; END",
    ):
        op.execute(sql)


def drop() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
