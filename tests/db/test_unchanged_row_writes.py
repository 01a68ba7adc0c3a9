"""Migration 0017: rewriting an unchanged row (its sync marker and observation time) touches no
index, and on PostgreSQL the snapshot pages keep room for the row's next version (HOT updates)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from app.db.migrate import downgrade, upgrade
from app.resources.base import SNAPSHOT_FILLFACTOR
from tests import backend


def _marker_indexes(url: str) -> set[str]:
    with backend.connect(url) as c:
        return set(c.run_sync(lambda sc: [ix["name"] for t in inspect(sc).get_table_names()
                                          for ix in inspect(sc).get_indexes(t) if "last_sync_id" in ix["column_names"]]))


def _fillfactors(url: str) -> dict[str, str | None]:
    with backend.connect(url) as c:
        rows = c.execute(text("SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
                              "WHERE relname IN ('servers', 'ports', 'sync_runs') AND relkind = 'r'")).all()
    return {name: opts for name, opts in rows}


def test_no_index_holds_the_sync_marker_and_downgrade_restores_it(tmp_path: Path) -> None:
    url = backend.new_database_url(tmp_path, "marker.db", empty=True)
    upgrade(url)
    assert _marker_indexes(url) == set()
    if backend.POSTGRES:
        ff = f"fillfactor={SNAPSHOT_FILLFACTOR}"
        assert _fillfactors(url) == {"servers": ff, "ports": ff, "sync_runs": None}
    downgrade(url, "0016_network_page_indexes")
    assert {"ix_servers_last_sync_id", "ix_ports_last_sync_id", "ix_flavors_last_sync_id"} <= _marker_indexes(url)
    if backend.POSTGRES:
        assert _fillfactors(url) == {"servers": None, "ports": None, "sync_runs": None}
    upgrade(url)
    assert _marker_indexes(url) == set()
