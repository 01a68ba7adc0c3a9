"""Fuzzing query_snapshot (issue 13, item 3): SQL assembled from hostile fragments (writes, ATTACH,
PRAGMA, temp objects, extension loading, second statements, CTE-wrapped writes, runaway recursion, in
any case and behind comments) through the MCP client. The properties: every call ends (the runaway
ones by the time limit) with a result or a clear refusal, never a crash; nothing is written (the
database file and its WAL are byte-identical afterwards) and no file is created."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests import backend
from tests.fuzz.strategies import LoopClient
from tests.fuzz.test_tool_arguments import CRASH
from tests.tools.conftest import mcp_client

TABLES = ["servers", "main.servers", "confirmation_tokens", "poller_lease", "operations", "sqlite_master",
          "temp.sqlite_master", "v_instances", "alembic_version", "servers_fts", "flavors", "x.servers"]
PRAGMAS = ["query_only", "query_only=0", "writable_schema=1", "journal_mode=DELETE", "user_version=7",
           "table_info(servers)", "wal_checkpoint(TRUNCATE)", "foreign_keys=OFF"]
PREFIXES = ["", " ", "\n", "/* x */ ", "-- c\n", "(", "WITH x AS (SELECT 1) ",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) ", "EXPLAIN ", "explain query plan "]
STATEMENTS = [
    "INSERT INTO {t} DEFAULT VALUES", "INSERT INTO {t}(cloud, id) VALUES ('a', 'b')", "UPDATE {t} SET id = id",
    "DELETE FROM {t}", "DROP TABLE {t}", "CREATE TABLE z(a)", "CREATE TEMP TABLE z AS SELECT * FROM {t}",
    "CREATE TEMP VIEW z AS SELECT 1", "CREATE TRIGGER tr AFTER INSERT ON {t} BEGIN SELECT 1; END",
    "ALTER TABLE {t} ADD COLUMN q", "ATTACH '{f}' AS x", "DETACH main", "PRAGMA {p}", "VACUUM", "VACUUM INTO '{f}'",
    "REINDEX", "ANALYZE", "BEGIN", "COMMIT", "SAVEPOINT s", "SELECT load_extension('{f}')",
    "SELECT writefile('{f}', 'x')", "SELECT * FROM {t}", "SELECT count(*) FROM r", "SELECT * FROM pragma_{p}",
    "REPLACE INTO {t}(cloud, id) VALUES ('a', 'b')", "SELECT sql FROM {t}", "SELECT randomblob(2000000000)",
    "SELECT * FROM {t} a, {t} b, {t} c, {t} d", "SELECT 1",
]
SUFFIXES = ["", ";", "; DELETE FROM servers", ";\nDROP TABLE servers", " -- x", "; PRAGMA query_only=0", " LIMIT 1"]


def _cases(text: str, upper: list[bool]) -> str:
    return "".join(c.upper() if u else c.lower() for c, u in zip(text, upper + [False] * len(text)))


def _digest(url: str) -> str:
    path = Path(url.split("///", 1)[1])
    h = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_no_generated_sql_writes_attaches_or_runs_past_the_limit(synced: Any, tmp_path: Path) -> None:
    target = tmp_path / "created-by-sql.db"
    sql_settings = synced.settings.model_copy(update={"sql_tool_enabled": True, "sql_tool_timeout": 0.5})
    url = synced.settings.database_url
    seen: dict[str, int] = {"ok": 0, "refused": 0}

    with LoopClient(lambda: mcp_client(sql_settings, synced.sim)) as lc:
        lc.call(lambda c: c.call_tool("query_snapshot", {"sql": "SELECT 1"}))
        before = None if backend.POSTGRES else _digest(url)
        servers = backend.count_rows(url, "servers")

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(prefix=st.sampled_from(PREFIXES), stmt=st.sampled_from(STATEMENTS), table=st.sampled_from(TABLES),
               pragma=st.sampled_from(PRAGMAS), suffix=st.sampled_from(SUFFIXES),
               upper=st.lists(st.booleans(), max_size=12))
        @example(prefix="-- c\n", stmt="SELECT * FROM {t}", table="v_instances", pragma="query_only", suffix=";",
                 upper=[])
        @example(prefix=PREFIXES[7], stmt="SELECT count(*) FROM r", table="servers", pragma="query_only", suffix="",
                 upper=[])  # the runaway: stopped by the time limit
        def check(prefix: str, stmt: str, table: str, pragma: str, suffix: str, upper: list[bool]) -> None:
            sql = prefix + _cases(stmt, upper).replace("{t}", table).replace("{p}", pragma).replace("{f}", str(target))
            sql = sql.replace("{T}", table).replace("{P}", pragma).replace("{F}", str(target)) + suffix
            result = lc.call(lambda c: c.call_tool("query_snapshot", {"sql": sql, "limit": 3}), timeout=60)
            text = result.content[0].text if result.content else ""
            if result.is_error:
                assert not CRASH.match(text), (sql, text)
                assert any(s in text for s in ("refused", "Refused", "Only one statement", "time limit",
                                               "The query failed", "over 1 MB")), (sql, text)
                seen["refused"] += 1
            else:
                first = sql.lstrip(" \n(").lower()
                assert first.startswith(("select", "with", "values", "/*", "--")), (sql, result.structured_content)
                assert result.structured_content["returned"] <= 3
                seen["ok"] += 1

        check()
        if before is not None:
            assert _digest(url) == before
        assert backend.count_rows(url, "servers") == servers
    assert not target.exists() and not list(tmp_path.iterdir())
    assert seen["refused"] and seen["ok"]
