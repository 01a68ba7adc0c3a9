"""Link rows of a big batch go in chunks (app/db/writer.py)."""

from __future__ import annotations

from typing import Any

from app.db import writer as writer_module
from app.db.engine import Database, utcnow
from app.db.writer import SnapshotWriter
from app.resources.registry import get_spec
from app.sync.runs import RunLog
from tests.sync.helpers import query


async def test_link_rows_of_a_big_batch_are_written_in_chunks(db_url: str, monkeypatch: Any) -> None:
    """More link rows than fit one INSERT execution (LINK_CHUNK, made tiny here) are all written."""
    monkeypatch.setattr(writer_module, "LINK_CHUNK", 3)
    db = Database(db_url)
    w, runs, spec = SnapshotWriter(db), RunLog(db, "c"), get_spec("servers")
    servers = [{"id": f"s-{i}", "name": f"vm-{i}", "status": "ACTIVE",
                "addresses": {"net": [{"addr": f"10.0.{i}.{j}"} for j in range(4)]}} for i in range(5)]
    r = await runs.start("servers", "full")
    await w.upsert_page(spec, "c", servers, r.run_id, utcnow())
    got = sorted(query(db_url, "SELECT server_id, ip_address FROM server_addresses WHERE cloud = 'c'"))
    assert got == sorted((f"s-{i}", f"10.0.{i}.{j}") for i in range(5) for j in range(4))
    await db.dispose()
