"""Server selection for the instance reads: conditions compiled to sets of server rowids that
indexes answer, never a scan of the wide server rows.

* Live-row partial indexes ``(cloud, col) WHERE deleted_at IS NULL`` (every ``servers`` filter
  column) answer equality tests (status, names, ids) index-only.
* Substring search (``search_instances``) on SQLite uses the FTS5 ``trigram`` table ``servers_fts``
  (migration 0005: one document per live server, one column per field, IPs newline-joined, kept
  current by triggers): ``servers_fts MATCH '{col ...}: "term"'`` gives candidates through the
  index for terms of 3+ characters, and the exact predicate (:func:`app.services.query.contains`:
  LIKE with ASCII case folding, or exact ``instr`` when case-sensitive) is re-checked on the FTS
  table's own narrow copy of the text, so results are exactly those of a scan. The term is always
  one quoted FTS phrase (``"`` doubled): ``*``, ``-``, ``NEAR``, ``AND``, ``:``... are literal.
  ``search_in="all"`` is one MATCH over every column. ``status`` is not in the FTS table (migration
  0018: status is what changes most, and each change rewrote the document); a cloud has a handful of
  distinct live statuses, found by skipping through the ``(cloud, status)`` live-row index (one seek
  per distinct status), matched exactly, and their servers selected through the same index.
  Shorter terms (no trigram), terms with NUL, and
  databases without the FTS table (PostgreSQL, old SQLite) fall back to LIKE/instr over the narrow
  partial indexes (index scans, not table scans).

Per field: name, status, availability_zone: that column; host: ``host`` or ``hypervisor_hostname``;
flavor: ``flavor_name`` (compute 2.47+), or ``flavor_id`` of flavors whose name matches; image /
project: the server's ``image_id`` / ``project_id``, or ids of images / projects whose name matches;
ip: the server's addresses (``server_addresses.ip_address``); all: the union of every field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import (ColumnElement, Connection, FromClause, Select, Table, column, false, literal, literal_column,
                        or_, select, table, text, union)

from app.resources.flavors import table as flavors
from app.resources.images import table as images
from app.resources.projects import table as projects
from app.resources.servers import addresses
from app.resources.servers import table as servers
from app.services.query import close_matches, contains
from app.services.scope import visible

if TYPE_CHECKING:
    from app.context import AppContext

SEARCH_FIELDS = ("name", "status", "host", "flavor", "image", "availability_zone", "ip", "project", "all")

# The FTS table of migrations 0005 and 0018 (SQLite only): rowid = servers.rowid, live rows only.
FTS_NAME = "servers_fts"
FTS_COLUMNS = ("name", "host", "hypervisor_hostname", "availability_zone", "flavor_name", "image_id", "project_id",
               "ips")
IP_SEPARATOR = "\n"
fts = table(FTS_NAME, column("rowid"), column("cloud"), *(column(c) for c in FTS_COLUMNS))
# Columns per search field (``ips``: the FTS table's newline-joined addresses; ``all``: every one).
FIELD_COLUMNS = {
    "name": ("name",), "status": ("status",), "availability_zone": ("availability_zone",),
    "host": ("host", "hypervisor_hostname"), "flavor": ("flavor_name",), "image": ("image_id",),
    "project": ("project_id",), "ip": ("ips",), "all": ("status", *FTS_COLUMNS),
}
# The distinct live statuses of a cloud (SQLite), one index seek each (~0.1 ms at 100,000); the text is
# parsed once (the same recursive CTE built with SQLAlchemy constructs per call cost ~4 ms).
LIVE_STATUSES = text(
    "WITH RECURSIVE st(status) AS ("
    " SELECT min(status) FROM servers WHERE cloud = :status_cloud AND deleted_at IS NULL"
    " UNION ALL"
    " SELECT (SELECT min(n.status) FROM servers AS n"
    "         WHERE n.cloud = :status_cloud AND n.deleted_at IS NULL AND n.status > st.status)"
    " FROM st WHERE st.status IS NOT NULL)"
    " SELECT status FROM st WHERE status IS NOT NULL")
# Fields also matched through another kind's name.
FIELD_NAMED = {"flavor": ("flavor_id", flavors), "image": ("image_id", images), "project": ("project_id", projects)}
TRIGRAM = 3

class RowidSet:
    """Distinct rowids of live servers of one cloud (SQLite): its size is the exact match count."""

    def __init__(self, select_: Select[tuple[int]] | Any) -> None:
        self.select = select_

    def condition(self) -> ColumnElement[bool]:
        return rowid(servers).in_(self.select)


Where = ColumnElement[bool] | RowidSet

# A test on one column of a servers alias.
Test = Callable[[FromClause], ColumnElement[bool]]


def rowid(t: FromClause) -> ColumnElement[int]:
    return literal_column(f"{t.name}.rowid")  # type: ignore[attr-defined]


def fts_query(columns: tuple[str, ...], term: str) -> str:
    """An FTS5 query matching ``term`` literally as one phrase in ``columns``."""
    return "{" + " ".join(columns) + "}: \"" + term.replace('"', '""') + "\""


def fts_match(columns: tuple[str, ...], term: str) -> ColumnElement[bool]:
    """``servers_fts MATCH`` the term in ``columns`` (candidates: each caller re-checks exactly)."""
    return literal_column(FTS_NAME).op("MATCH")(literal(fts_query(columns, term)))


class Selector:
    """Turns per-column tests into a WHERE clause on ``servers`` suited to the dialect."""

    def __init__(self, cloud: str, dialect: str) -> None:
        self.cloud = cloud
        self.sqlite = dialect == "sqlite"
        self._n = 0

    def rowids(self, test: Test) -> Select[tuple[int]]:
        """Rowids of live servers passing ``test`` (a covering scan of a live-row partial index)."""
        self._n += 1
        x = servers.alias(f"sx{self._n}")
        return select(rowid(x)).where(x.c.cloud == self.cloud, x.c.deleted_at.is_(None), test(x))

    def any_of(self, tests: list[Test], extra: list[Select[tuple[int]]] | None = None) -> Where:
        """Live servers passing any of ``tests`` (or whose rowid is in one of the ``extra`` sets): on
        SQLite a :class:`RowidSet` (one materialised set of distinct rowids, each member an index
        scan), elsewhere a plain condition."""
        extra = extra or []
        if not tests and not extra:
            return false()
        if not self.sqlite:
            return or_(*(t(servers) for t in tests))
        sets = [self.rowids(t) for t in tests] + extra
        return RowidSet(sets[0] if len(sets) == 1 else union(*sets))


class Matcher(Selector):
    """The ``search_instances`` condition for one term. ``use_fts``: the FTS table exists."""

    def __init__(self, cloud: str, term: str, case_sensitive: bool, dialect: str, use_fts: bool = False) -> None:
        super().__init__(cloud, dialect)
        self.term = term
        self.cs = case_sensitive
        self.fts = use_fts and self.sqlite and len(term) >= TRIGRAM and "\x00" not in term

    def _col(self, col: str) -> Test:
        return lambda t: contains(t.c[col], self.term, self.cs)

    def _named(self, other: Table) -> Select[tuple[str]]:
        """ids of ``other`` (tombstoned rows included, as the link may be) whose name matches; these
        kinds are small (flavors, images, projects)."""
        return select(other.c.id).where(other.c.cloud == self.cloud, contains(other.c.name, self.term, self.cs))

    def _ip_owners(self) -> Select[tuple[str]]:
        a = addresses
        return select(a.c.server_id).where(a.c.cloud == self.cloud, contains(a.c.ip_address, self.term, self.cs))

    def tests(self, field: str) -> list[Test]:
        """Per-column tests for the fallback (no FTS) path."""
        if field == "all":
            return [t for f in SEARCH_FIELDS if f != "all" for t in self.tests(f)]
        if field == "ip":
            return [lambda t: t.c.id.in_(self._ip_owners())]
        tests = [self._col(c) for c in FIELD_COLUMNS[field]]
        if field in FIELD_NAMED:
            col, other = FIELD_NAMED[field]
            tests.append(lambda t, col=col, other=other: t.c[col].in_(self._named(other)))
        return tests

    def _fts_set(self, field: str) -> Select[tuple[int]] | None:
        """Rowids of live servers whose FTS document matches ``term`` in the field's columns, re-checked
        exactly per column (an IP test also refuses terms spanning two newline-joined addresses)."""
        cols = tuple(c for c in FIELD_COLUMNS[field] if c in FTS_COLUMNS)
        checks = [contains(fts.c[c], self.term, self.cs) for c in cols if c != "ips" or IP_SEPARATOR not in self.term]
        if not checks:
            return None
        return select(fts.c.rowid).where(fts_match(cols, self.term), fts.c.cloud == self.cloud, or_(*checks))

    def statuses(self) -> Select[tuple[str]]:
        """The cloud's distinct live statuses that contain the term (a skip scan of the live
        ``(cloud, status)`` index, matched with the same test as every other column)."""
        live = LIVE_STATUSES.bindparams(status_cloud=self.cloud).columns(column("status")).subquery("live_statuses")
        return select(live.c.status).where(contains(live.c.status, self.term, self.cs))

    def condition(self, field: str) -> Where:
        if not self.fts:
            return self.any_of(self.tests(field))
        extra = [s for s in [self._fts_set(field)] if s is not None]
        tests: list[Test] = []
        if "status" in FIELD_COLUMNS[field]:
            tests.append(lambda t: t.c.status.in_(self.statuses()))
        for f, (col, other) in FIELD_NAMED.items():
            if field in (f, "all"):
                tests.append(lambda t, col=col, other=other: t.c[col].in_(self._named(other)))
        return self.any_of(tests, extra)


def has_fts(conn: Connection) -> bool:
    """The FTS table exists (migration 0005 ran on an SQLite with FTS5 trigram). Remembered on the
    connection once found (no migration drops it while the server runs); its absence is asked again."""
    if conn.info.get(FTS_NAME):
        return True
    row = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": FTS_NAME}).first()
    if row is not None:
        conn.info[FTS_NAME] = True
    return row is not None


def suggest(app: AppContext, conn: Connection, term: str) -> list[str]:
    """Close matches for ``term`` among live server names, from SQL-selected candidates only: names
    sharing a prefix (index range scans, longest prefix first), then names containing 3-character
    pieces of it; never the whole fleet."""
    t = term.strip()
    if not t:
        return []
    s = servers
    names: set[str] = set()
    for n in sorted({len(t) - 1, (2 * len(t)) // 3, len(t) // 2, 3}, reverse=True):
        if n < 2 or len(names) >= 20:
            continue
        prefix = t[:n]
        stmt = (select(s.c.name).where(visible(app, s), s.c.name >= prefix,
                                       s.c.name < prefix + "\U0010ffff").limit(200))
        names.update(x for (x,) in conn.execute(stmt) if x)
    if len(names) < 5:
        pieces = {t[i:i + 3] for i in range(0, max(len(t) - 2, 1), max((len(t) - 2) // 4, 1))}
        where = Selector(app.cloud_name, app.db.dialect_name).any_of(
            [lambda x, p=p: contains(x.c.name, p, False) for p in pieces if p])
        cond = where.condition() if isinstance(where, RowidSet) else where
        names.update(x for (x,) in conn.execute(select(s.c.name).where(visible(app, s), cond).limit(1000)) if x)
    return close_matches(t, sorted(names))
