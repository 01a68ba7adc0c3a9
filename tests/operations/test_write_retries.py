"""Writes are never retried behind the caller's back: a POST answered 503 may already have been
carried out, so it is reported as failed, once, and nothing is created twice. (Reads keep their
retries: tests/cloud/test_pager.py.)"""

from __future__ import annotations

from tests.operations.helpers import Fleet, fleet  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client


async def test_a_503_on_create_is_reported_not_retried(fleet: Fleet) -> None:
    before = fleet.sim.state.count("volumes")
    rule = fleet.sim.inject(r"/volumes$", status=503, method="POST", count=5)
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_volume", action="create", volume_name="once-only", size=1)
        assert rule.fired == 1, "the POST was retried"
        assert "503" in err or "unavailable" in err.lower()
        assert fleet.sim.state.count("volumes") == before
        fleet.sim.clear_faults()
        created = await call(client, "manage_volume", action="create", volume_name="once-only", size=1)
        assert created["status"] == "accepted"
        assert fleet.sim.state.count("volumes") == before + 1
    assert [(a["action"], a["outcome"]) for a in fleet.audit()][-2:] == [("create", "failed"), ("create", "succeeded")]
