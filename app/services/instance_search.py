"""SQL conditions for ``search_instances``: one partial-match condition per searchable field, all
compiled to parameterised SQL (nothing is filtered in Python).

How each field stays fast at 50,000 instances (figures in ``tests/bench/test_instance_search.py``):

* **name** (high cardinality): on SQLite the candidates come from a scan of the narrow covering
  index ``(cloud, search_text)`` (``search_text`` is the lowercased ``name id ips``), selected by
  ``rowid`` so the wide rows (raw JSON) are never read for non-matches; the exact name condition is
  then checked on the few candidates only. Elsewhere a plain condition on ``name``.
* **status, host, flavor, availability_zone** (low cardinality): the matching *distinct values* are
  found first (a covering scan of the ``(cloud, column)`` index), then servers are fetched with
  ``column IN (...)`` through the same index.
* **ip**: ``server_addresses`` rows whose ``ip_address`` matches (scan of the ``(cloud, ip_address)``
  index), joined back by server id.
* **image / project**: the image/project ids whose id or name matches, then ``IN`` on the indexed
  ``image_id`` / ``project_id`` column.
* **all**: the OR of every field's condition (each one index-driven as above).

Case-insensitive matching uses LIKE (ASCII case folding in SQLite); case-sensitive uses exact
substring tests (see :func:`app.services.query.contains`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Table, literal_column, or_, select

from app.resources.flavors import table as flavors
from app.resources.images import table as images
from app.resources.projects import table as projects
from app.resources.servers import addresses
from app.resources.servers import table as servers
from app.services.query import contains

SEARCH_FIELDS = ("name", "status", "host", "flavor", "image", "availability_zone", "ip", "project", "all")


class Matcher:
    """Builds the WHERE condition on ``servers`` for one search."""

    def __init__(self, cloud: str, term: str, case_sensitive: bool, dialect: str) -> None:
        self.cloud = cloud
        self.term = term
        self.cs = case_sensitive
        self.sqlite = dialect == "sqlite"

    def _c(self, column: object) -> ColumnElement[bool]:
        return contains(column, self.term, self.cs)

    def _values(self, *columns: str) -> ColumnElement[bool]:
        """``col IN (distinct matching values of col)`` for low-cardinality columns."""
        conds = []
        for col in columns:
            c = servers.c[col]
            sub = select(c).where(servers.c.cloud == self.cloud, c.is_not(None), self._c(c)).distinct()
            conds.append(c.in_(sub))
        return or_(*conds)

    def _ids_in(self, other: Table, column: str) -> ColumnElement[bool]:
        """servers.<column> IN ids of ``other`` (images, projects) whose id or name matches."""
        sub = select(other.c.id).where(other.c.cloud == self.cloud, or_(self._c(other.c.id), self._c(other.c.name)))
        return servers.c[column].in_(sub)

    def name(self) -> ColumnElement[bool]:
        exact = self._c(servers.c.name)
        if not self.sqlite:
            return exact
        # Candidates from the covering (cloud, search_text) index; search_text is lowercased, so the
        # lowercased term is a superset test for both modes (exact check on candidates follows).
        from app.services.query import like_escape

        pattern = f"%{like_escape(self.term.lower())}%"
        rowid = literal_column("servers.rowid")
        inner = servers.alias("st")
        sub = select(literal_column("st.rowid")).select_from(inner).where(
            inner.c.cloud == self.cloud, inner.c.search_text.like(pattern, escape="\\")
        )
        return rowid.in_(sub) & exact

    def status(self) -> ColumnElement[bool]:
        return self._values("status")

    def host(self) -> ColumnElement[bool]:
        return self._values("host", "hypervisor_hostname")

    def availability_zone(self) -> ColumnElement[bool]:
        return self._values("availability_zone")

    def flavor(self) -> ColumnElement[bool]:
        by_id = servers.c.flavor_id.in_(
            select(flavors.c.id).where(flavors.c.cloud == self.cloud, or_(self._c(flavors.c.id), self._c(flavors.c.name)))
        )
        return or_(self._values("flavor_name"), by_id)

    def image(self) -> ColumnElement[bool]:
        return self._ids_in(images, "image_id") | self._values("image_id")

    def project(self) -> ColumnElement[bool]:
        return self._ids_in(projects, "project_id") | self._values("project_id")

    def ip(self) -> ColumnElement[bool]:
        sub = select(addresses.c.server_id).where(addresses.c.cloud == self.cloud, self._c(addresses.c.ip_address))
        return servers.c.id.in_(sub)

    def all(self) -> ColumnElement[bool]:
        return or_(*(getattr(self, f)() for f in SEARCH_FIELDS if f != "all"))

    def condition(self, field: str) -> ColumnElement[bool]:
        builder: Callable[[], ColumnElement[bool]] = getattr(self, field)
        return builder()
