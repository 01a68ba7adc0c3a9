"""query_snapshot and describe_snapshot through the MCP client (issue 13, item 3): answers, row cap,
clipping, the answer budget, the time limit, and every write path refused with a clear error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from app.services.budget import DEFAULT_BUDGET
from tests import backend
from tests.tools.conftest import call, call_error, mcp_client

REFUSED = [
    ("INSERT INTO flavors(cloud, id) VALUES ('x', 'y')", "INSERT is refused"),
    ("update servers set status='ERROR'", "UPDATE is refused"),
    ("DELETE FROM servers", "DELETE is refused"),
    ("REPLACE INTO flavors(cloud, id) VALUES ('x', 'y')", "REPLACE is refused"),
    ("DROP TABLE servers", "DROP is refused"),
    ("CREATE TEMP TABLE t AS SELECT * FROM servers", "CREATE is refused"),
    ("ATTACH DATABASE '/tmp/evil.db' AS evil", "ATTACH is refused"),
    ("PRAGMA query_only=OFF", "PRAGMA is refused"),
    ("  /* hi */ pragma writable_schema=1", "PRAGMA is refused"),
    ("VACUUM INTO '/tmp/copy.db'", "VACUUM is refused"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension is refused"),
    ("SELECT 1; DELETE FROM servers", "Only one statement"),
    ("SELECT 1; SELECT 2", "Only one statement"),
    ("WITH x AS (SELECT 1) DELETE FROM servers", "efused"),
    ("WITH x AS (SELECT 1) INSERT INTO flavors(cloud, id) SELECT 'a', 'b' FROM x", "efused"),
    ("SELECT * FROM confirmation_tokens", "Refused: reading confirmation_tokens"),
    ("SELECT * FROM poller_lease", "Refused: reading poller_lease"),
    ("SELECT * FROM operations", "Refused: reading operations"),
    # SQLite's own objects: refused there; on PostgreSQL they do not exist
    ("SELECT * FROM pragma_table_info('servers')", "The query failed" if backend.POSTGRES else "Refused"),
    ("SELECT * FROM temp.sqlite_master", "The query failed" if backend.POSTGRES else "Refused"),
    ("BEGIN; DELETE FROM servers; COMMIT", "BEGIN is refused"),
]


def _sql_settings(synced: Any, **more: Any) -> Any:
    return synced.settings.model_copy(update={"sql_tool_enabled": True, **more})


def _file_digest(url: str) -> str:
    path = Path(url.split("///", 1)[1])
    h = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


async def test_answers_capped_clipped_and_inside_the_budget(synced: Any) -> None:
    url = synced.settings.database_url
    n_servers = backend.count_rows(url, "servers", "cloud='test' AND deleted_at IS NULL")
    n_error = backend.count_rows(url, "servers", "cloud='test' AND deleted_at IS NULL AND status='ERROR'")
    async with mcp_client(_sql_settings(synced), synced.sim) as client:
        got = await call(client, "query_snapshot",
                         sql="SELECT status, count(*) AS n FROM servers WHERE cloud='test' AND deleted_at IS NULL "
                             "GROUP BY status ORDER BY n DESC")
        assert got["columns"] == ["status", "n"] and list(got)[0] == "summary"
        assert sum(r[1] for r in got["rows"]) == n_servers and dict(map(tuple, got["rows"])).get("ERROR", 0) == n_error
        assert not got["truncated"]

        capped = await call(client, "query_snapshot", sql="SELECT id FROM ports ORDER BY id", limit=5)
        assert capped["returned"] == 5 and capped["truncated"] and "more than 5 rows" in capped["truncated_reason"]

        # views, json functions, CTEs and recursive CTEs are reads
        view = await call(client, "query_snapshot", sql="SELECT count(*) FROM v_instances")
        assert view["rows"] == [[n_servers]]
        json_sql = ("SELECT f.name, j.key FROM flavors f, json_each(f.raw, '$.extra_specs') j ORDER BY 1, 2"
                    if not backend.POSTGRES else
                    "SELECT f.name, j.key FROM flavors f, json_each(f.raw -> 'extra_specs') j ORDER BY 1, 2")
        js = await call(client, "query_snapshot", sql=json_sql)
        assert js["rows"] and all(len(r) == 2 for r in js["rows"])
        rec = await call(client, "query_snapshot",
                         sql="WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 50) "
                             "SELECT sum(n) FROM r")
        assert rec["rows"] == [[1275]]

        # long values clipped, and the whole answer within the budget (fewer rows, said so)
        big = await call(client, "query_snapshot", sql="SELECT id, raw FROM servers", limit=500)
        assert big["values_clipped"] > 0 and big["truncated"] and "answer budget" in big["truncated_reason"]
        assert len(json.dumps(big)) < DEFAULT_BUDGET
        assert "clipped" in big["rows"][0][1]


async def test_every_write_path_is_refused_and_nothing_changes(synced: Any) -> None:
    url = synced.settings.database_url
    async with mcp_client(_sql_settings(synced), synced.sim) as client:
        await call(client, "query_snapshot", sql="SELECT 1")  # the server has started (it records its cloud label)
        before = _file_digest(url) if not backend.POSTGRES else None
        for sql, expected in REFUSED:
            err = await call_error(client, "query_snapshot", sql=sql)
            assert expected in err, (sql, err)
            assert "Allowed: one read-only SELECT" in err or "Only one statement" in err or \
                "The query failed" in expected, (sql, err)
        assert "sql is empty" in await call_error(client, "query_snapshot", sql="   ")
        err = await call_error(client, "query_snapshot", sql="SELECT nope FROM servers")
        assert "The query failed" in err and "describe_snapshot" in err
        if before is not None:  # not a byte of the database file or its WAL changed
            assert _file_digest(url) == before
    assert not Path("/tmp/evil.db").exists() and not Path("/tmp/copy.db").exists()


async def test_time_limit_stops_a_runaway_query(synced: Any) -> None:
    async with mcp_client(_sql_settings(synced, sql_tool_timeout=0.3), synced.sim) as client:
        err = await call_error(client, "query_snapshot",
                               sql="WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                                   "SELECT count(*) FROM r")
        assert "time limit" in err and "0.3 s" in err
        # the next query runs normally
        assert (await call(client, "query_snapshot", sql="SELECT 1"))["rows"] == [[1]]


async def test_off_by_default_and_the_schema_description(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "query_snapshot" not in names and "describe_snapshot" in names
        desc = await call(client, "describe_snapshot")
        assert not desc["sql_tool_enabled"] and "disabled" in desc["summary"]
        tables = {t["name"]: t for t in desc["tables"]}
        assert {"servers", "ports", "port_fixed_ips", "snapshot_changes", "v_instances"} <= set(tables)
        assert "confirmation_tokens" not in tables and "poller_lease" not in tables
        assert len(json.dumps(desc)) < DEFAULT_BUDGET

        servers = (await call(client, "describe_snapshot", table="servers"))["tables"][0]
        cols = {c["name"]: c for c in servers["columns"]}
        assert cols["status"]["description"] and cols["raw"]["type"] and servers["indexes"]
        view = (await call(client, "describe_snapshot", table="v_instances"))["tables"][0]
        assert view["kind"] == "view" and view["sql"] and any(c["name"] == "name" for c in view["columns"])
        err = await call_error(client, "describe_snapshot", table="server")
        assert "No table or view" in err and "servers" in err


async def test_harmless_forms_are_answered(synced: Any) -> None:
    async with mcp_client(_sql_settings(synced), synced.sim) as client:
        for sql in ["SELECT 1 -- trailing comment", "select 1;", "/* c */ SELECT 1", "VALUES (1)"]:
            assert (await call(client, "query_snapshot", sql=sql))["rows"] == [[1]], sql
