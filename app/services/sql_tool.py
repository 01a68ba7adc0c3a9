"""A read-only SQL window on the snapshot (``query_snapshot``, off unless ``OPS_SQL_TOOL_ENABLED``); what it
may read, and its description (``describe_snapshot``), are :mod:`app.services.sql_schema`.

What a query may do: **one** ``SELECT`` (``WITH ... SELECT``, ``VALUES``) over the snapshot tables, their
link tables, ``sync_runs``, ``sync_state``, ``snapshot_changes`` and the reporting views. Nothing else:
no writes, no ``ATTACH``, no ``PRAGMA``, no temporary tables, no extension loading, no second
statement; the bookkeeping tables of the server itself (confirmation tokens, the lease, the audit
log) are not readable. Layers, so that no single mistake opens a write path:

* a first-keyword check, for clear errors;
* **SQLite**: a fresh connection per query, opened ``mode=ro`` (the file cannot be written through it),
  ``PRAGMA query_only=ON``, ``SQLITE_LIMIT_ATTACHED`` 0, values at most 1 MB
  (``SQLITE_LIMIT_LENGTH``), and an authorizer that allows only SELECT, READ of the allowed tables
  and views (and ``json_each``/``json_tree``), functions other than ``load_extension``, and
  recursive CTEs. A progress handler stops the query at ``OPS_SQL_TOOL_TIMEOUT`` seconds;
* **PostgreSQL**: a ``SET TRANSACTION READ ONLY`` transaction with ``statement_timeout``; the plan
  (``EXPLAIN``, which runs nothing) must read allowed relations only, and the query runs wrapped as a
  subquery with a ``LIMIT`` (so a second statement is a syntax error). Production deployments should
  also give the server a database role that can only SELECT (docs/configuration.md).

Answers carry at most ``limit`` rows (``truncated: true`` when more exist), long values clipped, and
stay under the answer budget (fewer rows past it, said in ``truncated_reason``).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from app.errors import InvalidArgument, NotPermitted
from app.services.budget import DEFAULT_BUDGET, clip_text, json_size
from app.services.sql_schema import readable_names

if TYPE_CHECKING:
    from app.context import AppContext

TABLE_VALUED = ("json_each", "json_tree", "sqlite_master", "sqlite_schema")  # and the schema text
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlite_dbpage"})
VALUE_CHARS = 500  # longest text value returned, in characters
MAX_VALUE_BYTES = 1_000_000
_FIRST_WORD = re.compile(r"^\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s|\()*([A-Za-z]+)", re.S)
READ_WORDS = ("select", "with", "values")
_PG_WRITE = re.compile(r'syntax error at or near "(insert|update|delete|merge|create|drop|alter|truncate|grant|'
                       r'revoke|copy|lock|call|do|set|reset)"', re.I)
REFUSALS = {
    "attach": "ATTACH is refused: the SQL tool reads the snapshot database only.",
    "detach": "DETACH is refused: the SQL tool reads the snapshot database only.",
    "pragma": "PRAGMA is refused (no settings can be read or changed); describe_snapshot lists tables and columns.",
    "vacuum": "VACUUM is refused: the SQL tool never writes (VACUUM INTO writes a file).",
}
ALLOWED_HINT = ("Allowed: one read-only SELECT (or WITH ... SELECT, VALUES) over the tables and views "
                "describe_snapshot lists; no writes, ATTACH, PRAGMA, temporary tables, extension loading "
                "or second statement.")


# ---------------------------------------------------------------------------------------------
# the query


class QueryResult(BaseModel):
    summary: str = Field(description="Rows returned, whether more exist, how long it took.")
    columns: list[str]
    rows: list[list[Any]] = Field(description="Row values in column order; text over "
                                              f"{VALUE_CHARS} characters is clipped.")
    returned: int
    limit: int
    truncated: bool = Field(description="True when the query has more rows than returned (row cap or answer budget).")
    truncated_reason: str | None = None
    values_clipped: int = Field(description="How many values were clipped.")
    elapsed_ms: float
    timeout_seconds: float


def check_statement(sql: str) -> str:
    """The statement's first keyword if it is a read (select/with/values), else a clear refusal."""
    if not sql or not sql.strip():
        raise InvalidArgument("sql is empty. " + ALLOWED_HINT)
    m = _FIRST_WORD.match(sql)
    word = m.group(1).lower() if m else ""
    if word in REFUSALS:
        raise NotPermitted(REFUSALS[word] + " " + ALLOWED_HINT)
    if word not in READ_WORDS:
        raise NotPermitted(f"{(word or 'this statement').upper()} is refused: the SQL tool only reads. {ALLOWED_HINT}")
    if re.search(r"load_extension", sql, re.I):
        raise NotPermitted("load_extension is refused. " + ALLOWED_HINT)
    return word


class _Guard:
    """The SQLite authorizer: deny by default; remembers the first denial to explain it."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self.denied: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        if action == sqlite3.SQLITE_SELECT or action == sqlite3.SQLITE_RECURSIVE:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            name = (arg1 or "").lower()
            if db is None:  # a CTE or subquery, whose own reads were authorized one by one
                return sqlite3.SQLITE_OK
            if db != "main":
                return self._deny(f"reading {arg1} in database {db}")
            if name in self.allowed or name in TABLE_VALUED or (source or "").lower() in self.allowed:
                return sqlite3.SQLITE_OK
            return self._deny(f"reading {arg1} (not a snapshot table or view)")
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in DENIED_FUNCTIONS:
                return self._deny(f"calling {arg2}()")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() == "sqlite_master" and db == "main":
            # SQLite asks this while connecting the json_each/json_tree virtual tables; the connection is
            # mode=ro and query_only, and no UPDATE statement passes check_statement.
            return sqlite3.SQLITE_OK
        return self._deny(_ACTIONS.get(action, f"action {action}") + (f" {arg1}" if arg1 else ""))

    def _deny(self, what: str) -> int:
        if self.denied is None:
            self.denied = what
        return sqlite3.SQLITE_DENY


_ACTIONS = {getattr(sqlite3, n): n[7:].lower().replace("_", " ") for n in (
    "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_PRAGMA",
    "SQLITE_CREATE_TABLE", "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TEMP_VIEW",
    "SQLITE_CREATE_INDEX", "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_TEMP_TRIGGER",
    "SQLITE_DROP_TABLE", "SQLITE_DROP_VIEW", "SQLITE_DROP_INDEX", "SQLITE_DROP_TRIGGER", "SQLITE_TRANSACTION",
    "SQLITE_ANALYZE", "SQLITE_REINDEX", "SQLITE_ALTER_TABLE", "SQLITE_CREATE_VTABLE", "SQLITE_DROP_VTABLE",
    "SQLITE_SAVEPOINT", "SQLITE_COPY") if hasattr(sqlite3, n)}


def _sqlite_rows(path: str, sql: str, limit: int, timeout: float, allowed: frozenset[str]) -> tuple[list[str], list[Any]]:
    guard = _Guard(allowed)
    conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                           timeout=5.0)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.set_authorizer(guard)
        deadline = time.monotonic() + timeout
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2000)
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchmany(limit + 1)
        except sqlite3.ProgrammingError as e:
            if "one statement" in str(e):
                raise InvalidArgument("Only one statement is allowed: remove the second one (and the ';' before it). "
                                      + ALLOWED_HINT) from None
            raise InvalidArgument(f"The query failed: {clip_text(str(e), 300)}.") from None
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as e:
            msg = str(e)
            if "interrupted" in msg:
                raise InvalidArgument(f"The query ran past the {timeout:g} s time limit and was stopped: narrow it "
                                      "(filter on indexed columns, join less, add LIMIT) and try again.") from None
            if "not authorized" in msg or "prohibited" in msg or guard.denied:
                raise NotPermitted(f"Refused: {guard.denied or 'not authorized'}. {ALLOWED_HINT}") from None
            if "readonly" in msg or "read-only" in msg:
                raise NotPermitted(f"Refused: the query tried to write. {ALLOWED_HINT}") from None
            if "too big" in msg:
                raise InvalidArgument("A value in the query grew over 1 MB: return less data per value.") from None
            raise InvalidArgument(f"The query failed: {clip_text(msg, 300)}. describe_snapshot lists the tables, "
                                  "views and columns.") from None
        return columns, rows
    finally:
        conn.close()


async def _postgres_rows(app: AppContext, sql: str, limit: int, timeout: float,
                         allowed: frozenset[str]) -> tuple[list[str], list[Any]]:
    body = sql.strip().rstrip(";").strip()
    async with app.db.read_engine.connect() as conn:
        # SET TRANSACTION READ ONLY and the two SET LOCAL time limits in one round trip (set_config(...,
        # true) is SET LOCAL; a transaction may always be made read-only, even after its first query).
        await conn.exec_driver_sql(
            "SELECT set_config('transaction_read_only', 'on', true), "
            f"set_config('statement_timeout', '{int(timeout * 1000)}', true), "
            "set_config('idle_in_transaction_session_timeout', '60000', true)")
        try:
            plan = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) SELECT * FROM ({body}\n) AS q")).scalar_one()
            relations = set(_plan_relations(plan))
            bad = sorted(r for r in relations if r.lower() not in allowed)
            if bad:
                raise NotPermitted(f"Refused: reading {', '.join(bad[:5])} (not a snapshot table or view). {ALLOWED_HINT}")
            result = await conn.exec_driver_sql(f"SELECT * FROM ({body}\n) AS q LIMIT {int(limit) + 1}")
            columns = list(result.keys())
            rows = [tuple(r) for r in result.fetchall()]
        except NotPermitted:
            raise
        except SQLAlchemyError as e:  # the driver's errors, translated for the caller
            msg = str(getattr(e, "orig", None) or e)
            if "statement timeout" in msg or "canceling statement" in msg:
                raise InvalidArgument(f"The query ran past the {timeout:g} s time limit and was stopped: narrow it "
                                      "(filter on indexed columns, add LIMIT) and try again.") from None
            write = _PG_WRITE.search(msg)
            if write:  # a data-modifying statement (in a CTE) cannot be a subquery: refused as a write
                raise NotPermitted(f"{write.group(1).upper()} is refused: the SQL tool only reads. {ALLOWED_HINT}") from None
            if 'at or near ";"' in msg:
                raise InvalidArgument("Only one statement is allowed: remove the second one (and the ';' before it). "
                                      + ALLOWED_HINT) from None
            if "read-only transaction" in msg or "permission denied" in msg:
                raise NotPermitted(f"Refused: {clip_text(msg, 200)}. {ALLOWED_HINT}") from None
            raise InvalidArgument(f"The query failed: {clip_text(msg, 300)}. describe_snapshot lists the tables, "
                                  "views and columns.") from None
        finally:
            await conn.rollback()
    return columns, rows


def _plan_relations(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if "Relation Name" in node:
            out.append(str(node["Relation Name"]))
        for v in node.values():
            out += _plan_relations(v)
    elif isinstance(node, list):
        for v in node:
            out += _plan_relations(v)
    return out


def _value(v: Any) -> tuple[Any, bool]:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(v))} bytes>", True
    if isinstance(v, str):
        return (clip_text(v, VALUE_CHARS), True) if len(v) > VALUE_CHARS else (v, False)
    if v is None or isinstance(v, (bool, int, float)):
        return v, False
    text_ = str(v)
    return (clip_text(text_, VALUE_CHARS), True) if len(text_) > VALUE_CHARS else (text_, False)


async def query_snapshot(app: AppContext, sql: str, limit: int, budget: int = DEFAULT_BUDGET - 1024) -> QueryResult:
    settings = app.settings
    if not getattr(settings, "sql_tool_enabled", False):
        raise NotPermitted("The SQL tool is disabled on this server (OPS_SQL_TOOL_ENABLED=false).")
    if not 1 <= limit <= 500:
        raise InvalidArgument(f"limit must be 1..500 (got {limit}).")
    check_statement(sql)
    timeout = float(settings.sql_tool_timeout)
    allowed = frozenset(n.lower() for n in readable_names(app.db.dialect_name))
    t0 = time.perf_counter()
    if app.db.is_sqlite:
        from app.db.engine import sqlite_path

        path = sqlite_path(app.db.url)
        if path is None:
            raise NotPermitted("query_snapshot needs a SQLite file or PostgreSQL database (not an in-memory one).")
        columns, raw_rows = await asyncio.to_thread(_sqlite_rows, str(path), sql, limit, timeout, allowed)
    else:
        columns, raw_rows = await _postgres_rows(app, sql, limit, timeout, allowed)
    elapsed = (time.perf_counter() - t0) * 1000
    more = len(raw_rows) > limit
    rows: list[list[Any]] = []
    clipped = 0
    size = json_size(columns) + 600
    reason = f"more than {limit} rows (raise limit, up to 500, or add ORDER BY / LIMIT / OFFSET)" if more else None
    for r in raw_rows[:limit]:
        vals = []
        for v in r:
            out, c = _value(v)
            clipped += c
            vals.append(out)
        row_size = json_size(vals) + 1
        if size + row_size > budget:
            more = True
            reason = (f"the answer budget ({budget // 1024} KB) holds {len(rows)} rows: select fewer columns or page "
                      "with LIMIT/OFFSET")
            break
        size += row_size
        rows.append(vals)
    summary = f"{len(rows)} row(s), {len(columns)} column(s) in {elapsed:.0f} ms"
    summary += f"; truncated: {reason}." if more else "."
    if clipped:
        summary += f" {clipped} long value(s) clipped to {VALUE_CHARS} characters."
    return QueryResult(summary=summary, columns=columns, rows=rows, returned=len(rows), limit=limit, truncated=more,
                       truncated_reason=reason, values_clipped=clipped, elapsed_ms=round(elapsed, 1),
                       timeout_seconds=timeout)
