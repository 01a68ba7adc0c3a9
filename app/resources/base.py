"""The declarative resource contract: one :class:`ResourceSpec` per OpenStack kind drives its table,
its sync (listing, mapping, tombstoning, targeted refresh) and the generic read queries.

A kind module (``app/resources/servers.py`` ...) declares:

* its table with :func:`snapshot_table`: primary key ``(cloud, id)``, the typed, indexed columns that
  tools filter, sort, group or join on, the bookkeeping columns ``first_seen_at``, ``last_seen_at``,
  ``last_sync_id``, ``deleted_at``, and the raw API object as JSON (secrets stripped) last;
* optional child link tables (:class:`ChildSpec`), replaced wholesale per parent whenever the parent's
  raw object changes (server addresses, volume attachments, router interfaces, SG rules, ...);
* ``SPEC = ResourceSpec(...)``: where to list it (:class:`Listing`), how to map the raw body to columns
  (``columns``: column name -> dotted path into the raw API object, or a function of it), how to get one
  (for targeted refresh), which columns are searchable/filterable, its poll interval.

Mapping works on the **raw API JSON** (upstream field names such as ``OS-EXT-SRV-ATTR:host``), not on
openstacksdk resource objects: it is what we store anyway, and it avoids the SDK's per-object overhead
at 50,000 instances. The cloud layer still uses openstacksdk for auth, catalog, version discovery,
microversions and retries.

Adding a kind = one module + a migration + a fixture; the registry (``app.resources.registry``) finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, DateTime, Index, Integer, String, Table

from app.db.meta import metadata

# Keys never stored: in raw JSON at any depth, case-insensitively.
SECRET_KEYS = frozenset(
    k.lower()
    for k in (
        "adminPass", "OS-EXT-SRV-ATTR:user_data", "user_data", "private_key", "password", "original_password",
        "token", "auth_token", "secret", "email", "admin_password", "access_token", "X-Subject-Token",
        "os-vol-mig-status-attr:name_id-secret", "admin_pass", "private_key_pem", "credentials",
    )
)

ColumnSource = str | Callable[[dict[str, Any]], Any]
# How a row's ``id`` is found: a key of the raw object, or a function of it (for kinds without an
# upstream id, e.g. role assignments or Cinder services, which derive a stable one).
IdSource = str | Callable[[dict[str, Any]], Any]


def strip_secrets(obj: Any, extra: frozenset[str] = frozenset()) -> Any:
    """A copy of ``obj`` with every secret key removed, at any depth (only containers are copied)."""
    return _stripped(obj, SECRET_KEYS | extra if extra else SECRET_KEYS)


_LOWER: dict[str, str] = {}  # key -> key.lower(): the same few hundred keys recur in every object of a sync
_LOWER_MAX = 20_000  # beyond that (metadata keys are free-form) keys are lowered each time


def _lower(k: str) -> str:
    low = _LOWER.get(k)
    if low is None:
        low = k.lower()
        if len(_LOWER) < _LOWER_MAX:
            _LOWER[k] = low
    return low


def _stripped(obj: Any, secret: frozenset[str]) -> Any:
    if isinstance(obj, dict):
        return {k: (_stripped(v, secret) if isinstance(v, (dict, list)) else v)
                for k, v in obj.items() if _lower(k) not in secret}
    if isinstance(obj, list):
        return [_stripped(v, secret) if isinstance(v, (dict, list)) else v for v in obj]
    return obj


def dig(obj: Any, path: str) -> Any:
    """Value at a dotted ``path`` in nested dicts (keys may contain ``:`` but not ``.``); None if absent."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
        if cur is None:
            return None
    return cur


def bookkeeping_columns() -> list[Column[Any]]:
    """Bookkeeping columns, ``raw`` last.

    Order matters on SQLite: a row is stored in column order and ``raw`` (kilobytes of JSON) spills
    into overflow pages. Every column before it, ``deleted_at`` included, is read from the row's
    first page; a column after it costs the whole overflow chain (a ``deleted_at IS NULL`` test on
    50,000 servers read ~400 MB that way)."""
    return [
        Column("first_seen_at", DateTime, nullable=False, doc="When the poller first saw this object (UTC)."),
        Column("last_seen_at", DateTime, nullable=False, doc="When a sync last saw this object (UTC)."),
        Column("last_sync_id", Integer, nullable=False, doc="sync_runs.id of the run that last wrote this row."),
        Column("deleted_at", DateTime, doc="Tombstone: when a complete listing stopped containing it (NULL = live)."),
        Column("raw", JSON, nullable=False, doc="The API object as OpenStack returned it, secrets removed."),
    ]


# Percent of each PostgreSQL page filled by inserts: the rest takes the next versions of rows a sync
# rewrites (last_seen_at), in place (migration 0017).
SNAPSHOT_FILLFACTOR = 70


def live_where(table: Table) -> ColumnElement[bool]:
    """The predicate of a snapshot table's live-row (partial) indexes: ``deleted_at IS NULL``."""
    return table.c.deleted_at.is_(None)


def snapshot_table(name: str, *columns: Column[Any] | Index, doc: str = "") -> Table:
    """A snapshot table: ``(cloud, id)`` primary key, the kind's typed columns, bookkeeping, raw JSON last.

    Indexes declared with :func:`app.resources._common.cloud_indexes` become **live-row partial
    indexes** ``(cloud, <column>) WHERE deleted_at IS NULL`` (SQLite and PostgreSQL): every read is
    scoped to one cloud's live rows (:func:`app.services.query.live` spells exactly that predicate), so
    a filter, sort or count on the column is answered from the index alone, and tombstones cost
    nothing. Tombstones get their own partial index ``(cloud, deleted_at) WHERE deleted_at IS NOT NULL``
    (exclusion sets, retention). ``last_sync_id`` and ``last_seen_at``, written for every row a sync
    sees, are in no index, and PostgreSQL leaves room in each page (``fillfactor``): it then updates an
    unchanged row in place (HOT) instead of adding an entry to every index of the table (migration 0017)."""
    cols = [c for c in columns if not isinstance(c, Index)]
    t = Table(
        name,
        metadata,
        Column("cloud", String(64), primary_key=True, doc="Cloud label (several clouds may share one database)."),
        Column("id", String(64), primary_key=True, doc="OpenStack ID."),
        *cols,
        *bookkeeping_columns(),
        comment=doc or None,
        info={"doc": doc, "snapshot": True},
        postgresql_with={"fillfactor": SNAPSHOT_FILLFACTOR},
    )
    live = live_where(t)
    for ix in (c for c in columns if isinstance(c, Index)):
        names = ix.info.get("cloud_columns")
        if names is None:
            raise ValueError(f"{name}: declare snapshot indexes with cloud_indexes() (got {ix.name})")
        Index(ix.name, *(t.c[n] for n in names), sqlite_where=live, postgresql_where=live)
    gone = t.c.deleted_at.is_not(None)
    Index(f"ix_{name}_cloud_deleted_at", t.c.cloud, t.c.deleted_at, sqlite_where=gone, postgresql_where=gone)
    return t


def link_table(name: str, parent: str, *columns: Column[Any] | Index, doc: str = "") -> Table:
    """A child/link table owned by a snapshot kind: ``(cloud, <parent>_id, ...)``; its rows are
    replaced wholesale when the parent changes and removed when the parent is tombstoned."""
    t = Table(
        name,
        metadata,
        Column("cloud", String(64), nullable=False, doc="Cloud label."),
        Column(f"{parent}_id", String(64), nullable=False, doc=f"The owning {parent}'s ID."),
        *columns,
        comment=doc or None,
        info={"doc": doc, "snapshot": False, "parent": parent},
    )
    Index(f"ix_{name}_cloud_{parent}_id", t.c.cloud, t.c[f"{parent}_id"])
    return t


@dataclass(frozen=True)
class Enrich:
    """A per-object sub-request on *another* service than the listing's (``Listing.enrich`` values
    that are plain paths go to the listing's own service): e.g. a project's compute quotas,
    ``Enrich("compute", "/os-quota-sets/{id}/detail", microversion=None)``; ``params``: its query
    (Cinder's ``usage=True``). ``optional``: a 404, a 403 or a service missing from the catalog stores
    ``None`` instead of failing the listing (a service that does not answer for that object), and says
    why under ``raw[ENRICH_UNAVAILABLE][key]`` (a stable text: no request id, so an unchanged refusal
    does not change the row)."""

    service: str
    path: str
    microversion: str | None = None
    optional: bool = False
    params: tuple[tuple[str, str], ...] = ()


# Where an optional sub-request that did not answer records why (``{key: reason}``), in the raw object.
ENRICH_UNAVAILABLE = "enrich_unavailable"


@dataclass(frozen=True)
class Listing:
    """How to list a kind: a GET on ``path`` relative to the ``service`` endpoint from the catalog.

    ``service`` is the openstacksdk proxy attribute (compute, network, block_storage, image, identity,
    orchestration, placement). The list is under ``collection`` in the body. Pagination follows the
    service's links (``<collection>_links`` rel=next, Glance's ``next``) when ``paginated``.
    ``microversion``: None for the service default, ``"max"`` for the highest both sides support, or an
    explicit ``"2.87"``. ``forbidden_fallback``: params to list with instead when the cloud refuses
    ``params`` with 403 (e.g. Heat's ``global_tenant``, denied by default policy): the kind is then
    synced in the credentials' own scope, and the run's details say so. ``enrich``: per-object sub-requests, e.g. ``{"inventories":
    "/resource_providers/{id}/inventories"}`` stores that GET's body under ``raw["inventories"]``.
    """

    service: str
    path: str
    collection: str
    params: Mapping[str, str] = field(default_factory=dict)
    paginated: bool = True
    microversion: str | None = None
    enrich: Mapping[str, str | Enrich] = field(default_factory=dict)
    forbidden_fallback: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ChildSpec:
    """Rows of a link table derived from the parent's raw object (``rows(raw)`` returns dicts without
    ``cloud`` and the parent id column)."""

    table: Table
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Followup:
    """After a successful sync of the declaring kind, refresh the rows of ``kind`` that
    ``ids(cloud)`` (a SELECT of ids) finds out of step with it, at most ``limit`` per run: a fact
    one API reports late or never through the listing we poll (a server's floating addresses live in
    Nova's network cache; its changes-since listing does not report them)."""

    kind: str
    ids: Callable[[str], Any]
    limit: int = 100


@dataclass(frozen=True)
class ResourceSpec:
    kind: str
    table: Table
    listing: Listing
    columns: Mapping[str, ColumnSource]
    description: str
    get_path: str | None = None
    get_key: str | None = None
    children: tuple[ChildSpec, ...] = ()
    id_key: IdSource = "id"
    searchable: tuple[str, ...] = ("name",)
    filterable: tuple[str, ...] = ()
    poll_interval: float = 60.0
    admin_only: bool = False
    incremental: bool = False
    extra_secret_keys: frozenset[str] = frozenset()
    # Top-level keys not stored because OpenStack reports them inconsistently between the listings we
    # use (storing them would flip rows between full and incremental syncs); see the kind's module.
    unstable_keys: frozenset[str] = frozenset()
    # Objects OpenStack still returns although their status means they no longer exist (Heat's GET of
    # a deleted stack, Nova's DELETED entries in changes-since): the writer tombstones them.
    gone: Callable[[dict[str, Any]], bool] | None = None
    # Typed columns left out of the change log (app/db/changelog.py) besides search_text/updated_at.
    change_ignore: frozenset[str] = frozenset()
    followups: tuple[Followup, ...] = ()

    def is_gone(self, raw: dict[str, Any]) -> bool:
        return bool(self.gone is not None and self.gone(raw))

    def row_id(self, raw: dict[str, Any]) -> str:
        if callable(self.id_key):
            return str(self.id_key(raw))
        return str(raw[self.id_key])

    def map_row(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed column values (without cloud/bookkeeping) from a raw API object."""
        out: dict[str, Any] = {}
        for col, source in self.columns.items():
            out[col] = source(raw) if callable(source) else dig(raw, source)
        return out

    def clean_raw(self, raw: dict[str, Any]) -> dict[str, Any]:
        clean = strip_secrets(raw, self.extra_secret_keys)
        for key in self.unstable_keys:
            clean.pop(key, None)
        return clean
