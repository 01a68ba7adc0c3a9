"""Issue 14 live tools through the MCP client against the simulator over HTTP (real openstacksdk,
real migrated database): get_instance_actions ("who stopped this server?") and get_console_log
(quotas: tests/tools/test_quotas.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openstack

from app.services.instance_live import clean_console
from app.simulator.nova_live import CONSOLE_LINES
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything

ANSWER_BUDGET = 16 * 1024


def _size(result: dict[str, Any]) -> int:
    return len(json.dumps(result, default=str))


async def test_who_stopped_this_server_and_its_console(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=30, seed=21)
    settings = make_settings(tmp_path / "live.db")
    await sync_everything(settings, sim)
    servers = sim.state.coll("servers")
    target = next(s for s in sorted(servers.values(), key=lambda s: s["name"])
                  if s["status"] == "ACTIVE" and not s["OS-EXT-STS:task_state"])
    conn = openstack.connect(**sim.connect_kwargs())
    try:
        conn.compute.stop_server(target["id"])
    finally:
        conn.close()
    async with mcp_client(settings, sim) as client:
        got = await call(client, "get_instance_actions", instance=target["name"])
        assert got["instance_id"] == target["id"] and not got["cached"]
        stop, create = got["actions"][0], got["actions"][-1]
        assert (stop["action"], create["action"]) == ("stop", "create")
        assert stop["user_name"] == "admin" and stop["request_id"].startswith("req-")
        assert stop["events"][0]["event"] == "compute_stop_instance"
        assert "Latest: stop by admin" in got["summary"] and stop["request_id"] in got["summary"]
        assert _size(got) < ANSWER_BUDGET
        again = await call(client, "get_instance_actions", instance=target["id"], action="stop", with_events=False)
        assert again["cached"] and [a["action"] for a in again["actions"]] == ["stop"]
        assert again["actions"][0]["events"] is None and again["page"]["total"] == 1

        log = await call(client, "get_console_log", instance=target["name"], lines=7)
        assert log["lines_returned"] == 7 and log["output"].splitlines()[-1] == f"{target['name']} login: "
        assert not log["truncated"] and "login:" in log["summary"]
        full = await call(client, "get_console_log", instance=target["id"], lines=500)
        assert full["lines_returned"] == CONSOLE_LINES

        assert "No live instance" in await call_error(client, "get_instance_actions", instance="no-such-vm")
        assert "500" in await call_error(client, "get_console_log", instance=target["name"], lines=501)
        # Nova no longer knows the instance the snapshot still has: 404 with Nova's request id
        sim.state.remove("servers", target["id"])
        err = await call_error(client, "get_console_log", instance=target["name"])
        assert "no longer exists" in err and "request id req-" in err


async def test_failed_build_shows_the_reason(synced: Any) -> None:
    sim = synced.sim
    failed = next(s for s in sim.state.values("servers")
                  if s.get("_fault") and not s.get("OS-EXT-SRV-ATTR:host"))
    async with mcp_client(synced.settings, sim) as client:
        got = await call(client, "get_instance_actions", instance=failed["id"])
        create = got["actions"][-1]
        assert create["failed"] and create["message"] == "Error"
        event = create["events"][0]
        assert event["result"] == "Error" and event["details"] and "NoValidHost" in event["traceback"]
        assert "Failed: create" in got["summary"]
        err = await call_error(client, "get_console_log", instance=failed["id"])
        assert "is not ready" in err and "request id" in err


def test_console_text_is_cleaned_and_bounded() -> None:
    lines, cut = clean_console("\x1b[0;32m OK \x1b[0m\tStarted\r\nbell\x07\n")
    assert lines == [" OK \tStarted", "bell"] and not cut
    many = "\n".join(f"line {i:05d} " + "x" * 90 for i in range(2000))
    kept, cut = clean_console(many)
    assert cut and kept[-1].startswith("line 01999") and sum(len(k) + 1 for k in kept) <= 64 * 1024
