"""Report answers (get_cluster_status, monitor_resources) are shaped once per distinct answer and served
again with the current freshness block (app/tools/report_answers.py): the kept answer equals a freshly
built one, and whatever the answer reads from outside the report entry (the clock, the arguments, the
freshness states) makes a new one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from mcp_types import CallToolResult

from app.context import open_app_context
from app.db.engine import utcnow
from app.services import cluster_status as cs
from app.tools import answers, report_answers
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.tools.conftest import make_settings, mcp_client

CASES = [
    ("monitor_resources", {}),
    ("monitor_resources", {"limit": 200}),
    ("monitor_resources", {"limit": 3, "offset": 2, "threshold_warn": 50.0}),
    ("get_cluster_status", {}),
    ("get_cluster_status", {"max_evidence": 50, "include_rules": True}),
    ("get_cluster_status", {"threshold_crit": 70.0, "stuck_after_minutes": 5}),
]


def _without_ages(result: Any) -> tuple[str, dict[str, Any]]:
    """Text and structured content with the freshness ages (which move with the clock) left out."""
    data = dict(result.structured_content)
    snap = dict(data.pop("snapshot"))
    snap.pop("age_seconds")
    snap["kinds"] = [{k: v for k, v in kind.items() if k != "age_seconds"} for kind in snap["kinds"]]
    text = "\n".join(line for line in result.content[0].text.splitlines() if not line.startswith("Snapshot as of"))
    return text, {**data, "snapshot": snap}


class CountingShape:
    """answers.shape, counting the results it shapes (the wrapper passes shaped ones through it too)."""

    def __init__(self) -> None:
        self.calls = 0
        self.shape = answers.shape

    def __call__(self, result: Any, **kw: Any) -> Any:
        self.calls += not isinstance(result, CallToolResult)
        return self.shape(result, **kw)


@pytest.mark.parametrize(("tool", "args"), CASES)
async def test_a_kept_report_answer_equals_a_fresh_one(synced: Any, monkeypatch: pytest.MonkeyPatch, tool: str,
                                                       args: dict[str, Any]) -> None:
    shape = CountingShape()
    monkeypatch.setattr(answers, "shape", shape)
    async with mcp_client(synced.settings, synced.sim) as client:
        keeps = report_answers.MEMO_ANSWERS
        monkeypatch.setattr(report_answers, "MEMO_ANSWERS", 0)  # nothing kept: built and shaped
        fresh = await client.call_tool(tool, args)
        monkeypatch.setattr(report_answers, "MEMO_ANSWERS", keeps)
        first = await client.call_tool(tool, args)
        assert shape.calls == 2
        kept = await client.call_tool(tool, args)
        assert shape.calls == 2, "the second call shaped its answer again"
    assert not first.is_error and not kept.is_error and not fresh.is_error
    assert _without_ages(kept) == _without_ages(first) == _without_ages(fresh)
    # the freshness block is the current one (ages as of now), not the kept answer's
    assert kept.structured_content["snapshot"] is not first.structured_content["snapshot"]
    assert kept.structured_content["snapshot"]["age_seconds"] >= first.structured_content["snapshot"]["age_seconds"]
    assert answers.answer_size(kept) <= answers.budget_for(args, {"limit": 5, "max_evidence": 5})


async def test_the_clock_and_the_arguments_make_new_answers(synced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stuck rule is cut when answering: a kept answer never hides an instance that became stuck."""
    stuck = [s for s in synced.sim.state.values("servers") if s["OS-EXT-STS:task_state"]]
    assert stuck, "the fleet plants instances with a task state"

    def stuck_count(result: Any) -> int:
        return sum(i["count"] for i in result.structured_content["issues"] if i["code"] == "instances_stuck")

    async with mcp_client(synced.settings, synced.sim) as client:
        now = utcnow()
        monkeypatch.setattr(cs, "utcnow", lambda: now)
        before = await client.call_tool("get_cluster_status", {})
        assert stuck_count(before) == len(stuck)
        # ten years earlier nothing had been in its task state for an hour yet
        monkeypatch.setattr(cs, "utcnow", lambda: now - timedelta(days=3650))
        earlier = await client.call_tool("get_cluster_status", {})
        assert stuck_count(earlier) == 0
        assert earlier.structured_content["health_score"] >= before.structured_content["health_score"]
        monkeypatch.setattr(cs, "utcnow", lambda: now)
        assert await client.call_tool("get_cluster_status", {}) != earlier
        assert stuck_count(await client.call_tool("get_cluster_status", {})) == len(stuck)
        # other arguments, other answers
        few = await client.call_tool("get_cluster_status", {"max_evidence": 1})
        assert all(len(i["items"]) <= 1 for i in few.structured_content["issues"])
        page = await client.call_tool("monitor_resources", {"limit": 1, "offset": 1})
        other = await client.call_tool("monitor_resources", {"limit": 1, "offset": 2})
        assert page.structured_content["hypervisors"] != other.structured_content["hypervisors"]


async def test_load_balancer_findings_follow_a_sync(tmp_path: Any) -> None:
    """The load-balancer findings are kept while their kinds' data holds, and follow a sync that changes a
    pool member (the member rows are rewritten with their pool: a write to lb_pools)."""
    server = SimulatorServer(Simulator(servers=20, seed=3, transition_seconds=0.2))
    sim = server.start()
    try:
        settings = make_settings(tmp_path / "lb.db")
        async with open_app_context(settings, **sim.connect_kwargs()) as app:
            await app.sync.sync_all()

            async def members_down() -> int:
                for _ in range(1200):  # until the report summarises the current data (a guard, not a timing)
                    got = await cs.cluster_status(app, stuck_after_minutes=60, max_evidence=5,
                                                  threshold_crit=cs.DEFAULT_CRIT)
                    if got.computed.current:
                        return sum(i.count for i in got.issues if i.code == "lb_members_down")
                    await asyncio.sleep(0.1)
                raise AssertionError("the report never caught up")

            before = await members_down()
            assert before == await members_down()  # kept: the same findings
            member = next(m for m in sim.state.values("lb_members")
                          if m["operating_status"] == "ONLINE" and m["admin_state_up"])
            member["operating_status"] = "ERROR"
            await app.sync.full_sync("lb_pools")
            assert await members_down() == before + 1
    finally:
        server.stop()
