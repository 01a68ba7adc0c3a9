from __future__ import annotations

from tests.tools.conftest import SyncedCloud, call, call_error, mcp_client


async def test_sync_status_reports_every_kind_fresh(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        out = await call(client, "get_sync_status")
    kinds = {k["kind"]: k for k in out["snapshot"]["kinds"]}
    assert "servers" in kinds and "hypervisors" in kinds
    assert kinds["servers"]["status"] == "ok"
    assert kinds["servers"]["age_seconds"] is not None
    assert out["snapshot"]["missing"] == []
    assert out["poller_running_here"] is False
    assert any(r["kind"] == "servers" and r["status"] == "succeeded" and r["seen"] >= 400
               for r in out["recent_runs"])


async def test_sync_status_one_kind_and_bad_kind(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        out = await call(client, "get_sync_status", kind="flavors", runs=5)
        err = await call_error(client, "get_sync_status", kind="nope")
    assert [k["kind"] for k in out["snapshot"]["kinds"]] == ["flavors"]
    assert all(r["kind"] == "flavors" for r in out["recent_runs"])
    assert "Unknown kind 'nope'" in err and "servers" in err
