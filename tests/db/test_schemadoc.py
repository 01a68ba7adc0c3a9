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


def test_views_are_documented_for_both_backends() -> None:
    text = generate()
    lite, pg = collect_views("sqlite"), collect_views("postgresql")
    assert set(lite) == set(pg)
    differing = [name for name in lite if lite[name][1] != pg[name][1]]
    assert differing, "no view differs between the dialects: the PostgreSQL blocks prove nothing"
    for name in differing:
        assert "group_concat" in lite[name][1] and "string_agg" in pg[name][1]
        assert f"SQLite:\n\n```sql\n{lite[name][1]}\n```" in text
        assert f"PostgreSQL:\n\n```sql\n{pg[name][1]}\n```" in text


def test_documented_view_sql_runs_on_the_backend(tmp_path: Path) -> None:
    """What docs/schema.md tells users of this backend to run is valid there (on a migrated database)."""
    from sqlalchemy import text

    from tests import backend

    url = backend.new_database_url(tmp_path, "doc.db")
    dialect = "postgresql" if backend.POSTGRES else "sqlite"
    with backend.connect(url) as conn:
        for name, (_doc, sql) in collect_views(dialect).items():
            cols = list(conn.execute(text(f"SELECT * FROM ({sql}) AS documented LIMIT 0")).keys())  # noqa: S608
            view_cols = list(conn.execute(text(f"SELECT * FROM {name} LIMIT 0")).keys())  # noqa: S608
            assert cols == view_cols, name
