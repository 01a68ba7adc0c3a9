"""docs/schema.md is generated; the committed copy must be current."""

from __future__ import annotations

from pathlib import Path

from app.db.schemadoc import collect_views, generate

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def test_committed_schema_doc_is_current() -> None:
    assert DOC.read_text() == generate(), "run: python -m app.db.schemadoc > docs/schema.md"


def test_doc_covers_every_table_and_view() -> None:
    from app.db.meta import metadata

    text = generate()
    for name in metadata.tables:
        assert f"### `{name}`" in text
    views = collect_views()
    assert set(views) == {"v_instances", "v_hypervisor_capacity", "v_volumes", "v_down_services", "v_project_usage"}
    for name, (doc, sql) in views.items():
        assert f"### `{name}`" in text and doc and sql.lstrip().upper().startswith("SELECT")
