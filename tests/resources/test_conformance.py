"""Walks the registry: every kind is complete (table in the migration, indexed filter columns,
documented columns, a fixture) without per-kind test code."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, inspect

from app.resources.base import SECRET_KEYS, Enrich, ResourceSpec
from app.resources.registry import KIND_MODULES, all_specs, load_all_tables
from tests.resources.conftest import FIXTURES, load_fixture

SPECS = list(all_specs().values())
IDS = [s.kind for s in SPECS]
BOOKKEEPING = {"cloud", "id", "raw", "first_seen_at", "last_seen_at", "last_sync_id", "deleted_at"}
SERVICES = {"compute", "network", "block_storage", "image", "identity", "orchestration", "placement", "load_balancer"}


def test_registry_covers_every_module() -> None:
    assert len(SPECS) == len(KIND_MODULES) >= 23
    assert len({s.table.name for s in SPECS}) == len(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_tables_exist_in_the_migration(spec: ResourceSpec, migrated_engine: Engine) -> None:
    tables = set(inspect(migrated_engine).get_table_names())
    assert spec.table.name in tables
    for child in spec.children:
        assert child.table.name in tables


def _serves_live_rows(ix: dict[str, object], col: str) -> bool:
    """An index serves live-row filters/sorts on ``col``: ``(cloud, col, ...)`` partial on
    ``deleted_at IS NULL``, or ``(cloud, deleted_at, col, ...)``. A plain ``(cloud, col)`` index does
    not: the tombstone test would still visit every row (raw JSON and all)."""
    cols = list(ix["column_names"])  # type: ignore[call-overload]
    where = ix.get("dialect_options", {}).get("sqlite_where")  # type: ignore[attr-defined]
    partial_live = where is not None and " ".join(str(where).lower().split()) == "deleted_at is null"
    return (cols[:2] == ["cloud", col] and partial_live) or cols[:3] == ["cloud", "deleted_at", col]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_searchable_and_filterable_columns_are_indexed(spec: ResourceSpec, migrated_engine: Engine) -> None:
    indexes = inspect(migrated_engine).get_indexes(spec.table.name)
    for col in (*spec.searchable, *spec.filterable):
        assert col in spec.table.c, f"{spec.kind}: {col} is not a column"
        assert any(_serves_live_rows(ix, col) for ix in indexes), \
            f"{spec.kind}: no live-row index for {col} ((cloud, {col}) WHERE deleted_at IS NULL)"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_raw_is_the_last_column(spec: ResourceSpec, migrated_engine: Engine) -> None:
    """The multi-KB raw JSON goes last, so every other column is read without its overflow pages."""
    cols = [c["name"] for c in inspect(migrated_engine).get_columns(spec.table.name)]
    assert cols[-1] == "raw" and cols.index("deleted_at") < cols.index("raw")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_columns_mapping_is_complete_and_documented(spec: ResourceSpec) -> None:
    own = {c.name for c in spec.table.c} - BOOKKEEPING
    assert set(spec.columns) == own, f"{spec.kind}: mapped {sorted(spec.columns)} vs table {sorted(own)}"
    for table in (spec.table, *(c.table for c in spec.children)):
        assert table.info.get("doc"), f"{table.name} has no doc"
        for c in table.c:
            assert c.doc, f"{table.name}.{c.name} has no doc"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_listing_is_well_formed(spec: ResourceSpec) -> None:
    lst = spec.listing
    assert lst.service in SERVICES
    assert lst.path.startswith("/") and not re.match(r"^/v\d", lst.path), "paths are relative to the versioned endpoint"
    assert spec.poll_interval >= 30
    if any(k in lst.params for k in ("all_tenants", "global_tenant")):
        assert spec.admin_only
    if spec.incremental:
        assert lst.service == "compute" and spec.kind == "servers"
    for sub in lst.enrich.values():
        assert "{id}" in (sub.path if isinstance(sub, Enrich) else sub)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_kind_has_a_fixture(spec: ResourceSpec) -> None:
    data = load_fixture(spec.kind)
    assert data["source"] and data["objects"] and data["expected"]
    ids = [spec.row_id(o) for o in data["objects"]]
    assert len(ids) == len(set(ids)), f"{spec.kind}: fixture ids not unique"
    assert all(len(i) <= 64 for i in ids)


def test_fixtures_carry_the_secrets_that_must_be_stripped() -> None:
    found: set[str] = set()

    def walk(o: object) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if k.lower() in SECRET_KEYS and v:
                    found.add(k)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for path in FIXTURES.glob("*.json"):
        walk(load_fixture(path.stem)["objects"])
    assert {"adminPass", "OS-EXT-SRV-ATTR:user_data", "email", "password", "private_key"} <= found


def test_no_orphan_fixture() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(all_specs())


def test_metadata_has_no_unregistered_tables() -> None:
    from app.db.meta import metadata

    load_all_tables()
    owned = {s.table.name for s in SPECS} | {c.table.name for s in SPECS for c in s.children}
    unowned = set(metadata.tables) - owned
    assert {"sync_runs", "poller_lease", "snapshot_versions"} <= unowned
    # Anything else is bookkeeping (runs, leases, versions, audit...), never an unregistered snapshot kind.
    stray = {name for name in unowned if metadata.tables[name].info.get("snapshot")
             or "raw" in metadata.tables[name].c}
    assert not stray, f"snapshot-shaped tables without a ResourceSpec: {stray}"
