"""The one MetaData every table hangs off, with a naming convention so Alembic migrations are
deterministic on SQLite (batch mode needs named constraints) and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Tables the database holds that no MetaData table declares: SQLite FTS5 virtual tables created by
# migrations (0005: ``servers_fts``) and the shadow tables FTS5 creates for them
# (``servers_fts_data``, ``_idx``, ``_content``, ``_docsize``, ``_config``).
UNMANAGED_TABLES = ("servers_fts",)


def is_unmanaged(name: str | None) -> bool:
    """True for an FTS table (or one of its shadow tables) that schema comparison must skip."""
    return bool(name) and any(name == t or name.startswith(t + "_") for t in UNMANAGED_TABLES)


# PostgreSQL trigram indexes (migration 0009, ``USING gin (col gin_trgm_ops)``) are not declared on
# the tables either: they exist on PostgreSQL only.
UNMANAGED_INDEX_PREFIX = "ixtrgm_"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: compare everything but the unmanaged FTS tables and the
    PostgreSQL-only trigram indexes."""
    if type_ == "index" and name and name.startswith(UNMANAGED_INDEX_PREFIX):
        return False
    return not (type_ == "table" and is_unmanaged(name))
