"""Per kind, from realistic API objects: typed column values, link-table rows, no secret kept, and
every mapped row fits the migrated table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, DateTime, Engine, Float, Integer, String, insert

from app.resources.base import SECRET_KEYS, ResourceSpec
from app.resources.registry import all_specs
from tests.resources.conftest import load_fixture

SPECS = list(all_specs().values())
IDS = [s.kind for s in SPECS]


def _jsonish(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_fixture_maps_to_expected_values(spec: ResourceSpec) -> None:
    data = load_fixture(spec.kind)
    by_id = {spec.row_id(o): o for o in data["objects"]}
    for row_id, exp in data["expected"].items():
        raw = by_id[row_id]
        assert {k: _jsonish(v) for k, v in spec.map_row(raw).items()} == exp["columns"]
        for child in spec.children:
            rows = [{k: _jsonish(v) for k, v in r.items()} for r in child.rows(raw)]
            assert rows == exp["children"][child.table.name]


def _secret_keys(o: Any) -> list[str]:
    if isinstance(o, dict):
        return [k for k in o if k.lower() in SECRET_KEYS] + [s for v in o.values() for s in _secret_keys(v)]
    if isinstance(o, list):
        return [s for v in o for s in _secret_keys(v)]
    return []


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_clean_raw_leaves_no_secret(spec: ResourceSpec) -> None:
    for raw in load_fixture(spec.kind)["objects"]:
        cleaned = spec.clean_raw(raw)
        assert _secret_keys(cleaned) == []
        text = repr(cleaned)
        for needle in ("Sup3rSecret", "An0therSecret", "hunter2", "@example.org", "PRIVATE KEY", "IyEvYmluL3No"):
            assert needle not in text


def test_secrets_are_stripped_at_any_depth() -> None:
    spec = all_specs()["servers"]
    raw = {"id": "x", "adminPass": "p", "metadata": {"nested": [{"Password": "p", "ok": 1}]}}
    assert spec.clean_raw(raw) == {"id": "x", "metadata": {"nested": [{"ok": 1}]}}


PY_TYPES: list[tuple[type, tuple[type, ...]]] = [
    (Boolean, (bool,)), (DateTime, (datetime,)), (Float, (float, int)), (Integer, (int,)), (String, (str,)),
]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_mapped_values_fit_column_types(spec: ResourceSpec) -> None:
    def check(table: Any, row: dict[str, Any]) -> None:
        for name, value in row.items():
            if value is None:
                continue
            col = table.c[name]
            for sa_type, py in PY_TYPES:
                if isinstance(col.type, sa_type):
                    assert isinstance(value, py) and not (sa_type is Integer and isinstance(value, bool)), (
                        f"{table.name}.{name}={value!r}")
                    if sa_type is String and col.type.length:
                        assert len(value) <= col.type.length
                    break

    for raw in load_fixture(spec.kind)["objects"]:
        check(spec.table, spec.map_row(raw))
        for child in spec.children:
            for r in child.rows(raw):
                check(child.table, r)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_mapped_rows_insert_into_the_migrated_tables(spec: ResourceSpec, migrated_engine: Engine) -> None:
    now = datetime(2026, 1, 1)
    with migrated_engine.begin() as conn:
        for raw in load_fixture(spec.kind)["objects"]:
            rid = spec.row_id(raw)
            conn.execute(insert(spec.table).values(
                cloud="t", id=rid, raw=spec.clean_raw(raw), first_seen_at=now, last_seen_at=now, last_sync_id=1,
                **spec.map_row(raw)))
            for child in spec.children:
                parent_col = f"{child.table.info['parent']}_id"
                for r in child.rows(raw):
                    conn.execute(insert(child.table).values(cloud="t", **{parent_col: rid}, **r))


def test_role_assignment_ids_are_stable_and_distinct() -> None:
    spec = all_specs()["role_assignments"]
    objs = load_fixture("role_assignments")["objects"]
    ids = [spec.row_id(o) for o in objs]
    assert ids == [spec.row_id(dict(o)) for o in objs]
    assert len(set(ids)) == len(ids)
    system = next(o for o in objs if "system" in o["scope"])
    assert spec.map_row(system)["scope_type"] == "system"


def test_search_text_is_capped_to_its_column() -> None:
    spec = all_specs()["servers"]
    raw = {"id": "s", "name": "X" * 300,
           "addresses": {"n": [{"addr": f"10.0.{i // 250}.{i % 250}", "version": 4} for i in range(200)]}}
    value = spec.map_row(raw)["search_text"]
    assert value.startswith("x" * 300) and len(value) <= spec.table.c.search_text.type.length
