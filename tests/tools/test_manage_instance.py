"""manage_instance through the MCP client against the simulator: every action changes the simulated
cloud, the snapshot row follows right after the call (and reaches the final state with wait=True),
stop and hard reboot need confirmation, 409s are reported as such, every call is audited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client

# action, starting vm_state, needs confirmation, extra args, immediate task_state, final status
ACTIONS = [
    ("start", "stopped", False, {}, "powering-on", "ACTIVE"),
    ("stop", "active", True, {}, "powering-off", "SHUTOFF"),
    ("restart", "active", False, {"reboot_type": "SOFT"}, "rebooting", "ACTIVE"),
    ("restart", "active", True, {"reboot_type": "HARD"}, "rebooting_hard", "ACTIVE"),
    ("pause", "active", False, {}, "pausing", "PAUSED"),
    ("unpause", "paused", False, {}, "unpausing", "ACTIVE"),
    ("suspend", "active", False, {}, "suspending", "SUSPENDED"),
    ("resume", "suspended", False, {}, "resuming", "ACTIVE"),
]


def prepared(fleet: Fleet, vm_state: str) -> dict[str, Any]:
    """An idle server in ``vm_state`` (put there in the simulator and the snapshot if none is)."""
    try:
        return fleet.server(vm_state)
    except AssertionError:
        s = fleet.server("active")
        s.update({"OS-EXT-STS:vm_state": vm_state,
                  "status": {"stopped": "SHUTOFF", "paused": "PAUSED", "suspended": "SUSPENDED"}[vm_state]})
        return s


async def run(client: Any, name: str, action: str, confirm: bool, **args: Any) -> dict[str, Any]:
    out = await call(client, "manage_instance", instance_name=name, action=action, **args)
    if confirm:
        assert out["status"] == "confirmation_required"
        out = await call(client, "manage_instance", instance_name=name, action=action,
                         confirmation_token=out["confirmation_token"], **args)
    return out


@pytest.mark.parametrize(("action", "vm_state", "confirm", "extra", "task", "final"), ACTIONS,
                         ids=[f"{a[0]}-{a[3].get('reboot_type', '')}" for a in ACTIONS])
async def test_action_changes_cloud_and_snapshot(fleet: Fleet, action: str, vm_state: str, confirm: bool,
                                                 extra: dict[str, Any], task: str, final: str) -> None:
    s = prepared(fleet, vm_state)
    fleet.sim.freeze()  # the transition happens when this test moves the clock, however loaded the machine is
    async with managed_client(fleet) as m:
        await m.app.sync.refresh("servers", [s["id"]])  # the snapshot row of a prepared server
        out = await run(m.client, s["name"], action, confirm, **extra)
        # right after the call: OpenStack accepted it, the simulated server is transitioning, the row says so
        assert out["status"] == "accepted" and out["request_ids"]
        assert s["OS-EXT-STS:task_state"] == task
        row = fleet.row("servers", s["id"])
        assert row is not None and row["task_state"] == task
        assert out["targets"][0]["fields"]["task_state"] == task
        assert m.followups.pending == 1
        # the transition completes; the scheduled follow-up converges the snapshot without any further call
        fleet.sim.advance(60)
        await m.followups.run()
        assert fleet.row("servers", s["id"])["status"] == final
        assert fleet.row("servers", s["id"])["task_state"] is None
        assert fleet.sim.settle(s)["status"] == final
    audit = [a for a in fleet.audit() if a["action"] == action and a["outcome"] == "succeeded"]
    assert audit and s["id"] in audit[-1]["targets"] and audit[-1]["confirmed"] == confirm
    assert audit[-1]["principal"] == "local" and "req-" in audit[-1]["request_ids"]


async def test_followup_keeps_refreshing_until_the_state_is_reached(fleet: Fleet) -> None:
    """A transition slower than the first follow-up refresh: later refreshes (backoff) still converge it,
    and the follow-up stops as soon as the row is final."""
    s = fleet.server("active")
    fleet.sim.freeze()
    async with managed_client(fleet) as m:
        out = await call(m.client, "manage_instance", instance_name=s["name"], action="suspend")
        assert out["status"] == "accepted" and out["targets"][0]["fields"]["task_state"] == "suspending"
        steps: list[str | None] = []
        real_refresh = m.app.sync.refresh

        async def refresh(kind: str, ids: Any) -> Any:
            r = await real_refresh(kind, ids)
            steps.append(fleet.row("servers", s["id"])["status"])
            if len(steps) == 2:  # the server finishes suspending between the 2nd and 3rd follow-up refresh
                fleet.sim.advance(60)
            return r

        m.app.sync.refresh = refresh
        await m.followups.run()
    assert steps == ["ACTIVE", "ACTIVE", "SUSPENDED"]
    assert fleet.row("servers", s["id"])["status"] == "SUSPENDED"


async def test_wait_reaches_final_state_with_progress(fleet: Fleet) -> None:
    s = fleet.server("active")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    async with mcp_client(fleet.settings, fleet.sim) as client:
        res = await client.call_tool("manage_instance", {"instance_name": s["id"], "action": "pause", "wait": True,
                                                         "timeout": 20}, progress_callback=on_progress)
        out = res.structured_content
        assert out["status"] == "completed" and out["waited_seconds"] < 20
        assert out["targets"][0]["status"] == "PAUSED" and out["targets"][0]["fields"]["task_state"] is None
        assert fleet.row("servers", s["id"])["status"] == "PAUSED"
        assert progress and progress[-1][1] == 20 and "1/1 done" in progress[-1][2]
        out = await call(client, "manage_instance", instance_name=s["name"], action="unpause", wait=True, timeout=20)
        assert out["status"] == "completed" and fleet.row("servers", s["id"])["status"] == "ACTIVE"
        out = await run(client, s["name"], "stop", True, wait=True, timeout=20)
        assert out["status"] == "completed" and fleet.row("servers", s["id"])["status"] == "SHUTOFF"


async def test_wait_timeout_is_reported_not_hidden(fleet: Fleet) -> None:
    s = fleet.server("active")
    fleet.sim.freeze()  # the suspend never finishes while the call waits
    async with mcp_client(fleet.settings, fleet.sim) as client:
        out = await call(client, "manage_instance", instance_name=s["name"], action="suspend", wait=True, timeout=1)
    assert out["status"] == "timed_out" and "not reached within 1 s" in out["message"]
    assert out["targets"][0]["status"] == "ACTIVE" and out["targets"][0]["fields"]["task_state"] == "suspending"
    assert fleet.audit()[-1]["outcome"] == "timed_out"


async def test_unconfirmed_stop_and_hard_reboot_change_nothing(fleet: Fleet) -> None:
    s = fleet.server("active")
    before = fleet.row("servers", s["id"])
    async with mcp_client(fleet.settings, fleet.sim) as client:
        stop = await call(client, "manage_instance", instance_name=s["name"], action="stop")
        hard = await call(client, "manage_instance", instance_name=s["name"], action="restart", reboot_type="hard")
    for p in (stop, hard):
        assert p["status"] == "confirmation_required" and p["confirmation_token"].startswith("confirm-")
        assert p["targets"][0]["id"] == s["id"] and p["targets"][0]["status"] == "ACTIVE"
        assert s["name"] in p["preview"][0] and "Nothing was changed" in p["message"]
        assert p["confirmation_expires_at"] and not p["request_ids"]
    assert "power-cycle" in hard["preview"][0]
    fleet.sim.settle(s)
    assert s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:task_state"] is None
    assert fleet.row("servers", s["id"]) == before
    assert [a["outcome"] for a in fleet.audit()] == ["preview", "preview"]


async def test_wrong_state_conflict_is_reported(fleet: Fleet) -> None:
    s = fleet.server("active")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_instance", instance_name=s["name"], action="start")
    assert "wrong state" in err and "vm_state active" in err
    a = fleet.audit()[-1]
    assert a["outcome"] == "failed" and "wrong state" in a["error"] and a["request_ids"] != "[]"
    assert fleet.sim.settle(s)["OS-EXT-STS:vm_state"] == "active"


async def test_ambiguous_and_missing_names_are_refused(fleet: Fleet) -> None:
    a, b = [s for s in fleet.sim.state.values("servers") if s["OS-EXT-STS:vm_state"] == "active"][:2]
    a["name"] = b["name"] = "twin"
    from app.context import open_app_context
    async with open_app_context(fleet.settings, **fleet.sim.connect_kwargs()) as app:
        await app.sync.refresh("servers", [a["id"], b["id"]])
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_instance", instance_name="twin", action="pause")
        missing = await call_error(client, "manage_instance", instance_name="twinn", action="pause")
        bad = await call_error(client, "manage_instance", instance_name="twin", action="reboot")
        bad_type = await call_error(client, "manage_instance", instance_name=a["id"], action="restart",
                                    reboot_type="gentle")
    assert "2 instances are named 'twin'" in err and a["id"] in err and b["id"] in err and "ACTIVE" in err
    assert "Did you mean: twin" in missing
    assert "Unknown action 'reboot'" in bad and "start, stop, restart, pause, unpause, suspend, resume" in bad
    assert "reboot_type must be SOFT or HARD" in bad_type
    for s in (a, b):
        assert fleet.sim.settle(s)["OS-EXT-STS:task_state"] is None and s["OS-EXT-STS:vm_state"] == "active"
    assert [x["outcome"] for x in fleet.audit()] == ["refused"] * 4


async def test_writes_disabled_hides_tools(fleet: Fleet) -> None:
    off = fleet.settings.model_copy(update={"allow_modify_operations": False})
    async with mcp_client(off, fleet.sim) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert not {n for n in names if n.startswith("manage_")}
    assert "get_operation_log" in names
    async with mcp_client(fleet.settings, fleet.sim) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for n in ("manage_instance", "manage_volume", "manage_snapshot"):
        ann = tools[n].annotations
        assert ann.read_only_hint is False and ann.destructive_hint is True and ann.open_world_hint is True
        assert ann.idempotent_hint is False
    assert "start, stop, restart" in tools["manage_instance"].description


async def test_error_state_while_waiting_is_a_failure(fleet: Fleet) -> None:
    from app.simulator.nova_actions import fail_server

    s = fleet.server("active")
    fleet.sim.freeze()  # the suspend cannot finish before the test breaks the server

    async def break_it() -> None:
        async with asyncio.timeout(120):  # a state to wait for, bounded (never a time to guess)
            while s["OS-EXT-STS:task_state"] != "suspending":
                await asyncio.sleep(0.02)
        fail_server(fleet.sim, s, "hypervisor lost the guest")

    async with mcp_client(fleet.settings, fleet.sim) as client:
        err, _ = await asyncio.gather(
            call_error(client, "manage_instance", instance_name=s["name"], action="suspend", wait=True, timeout=20),
            break_it())
    assert "accepted 'suspend'" in err and "went to ERROR" in err
    assert fleet.row("servers", s["id"])["status"] == "ERROR"
    assert fleet.audit()[-1]["outcome"] == "failed"
