"""manage_instance resize / confirm_resize / revert_resize / migrate / live_migrate through the MCP client
against the simulator: the preview shows the destination's capacity (from the snapshot's Placement data,
the planner's computation), a destination that cannot take the instance is refused before anything is
sent, the confirmed call changes the simulated cloud with Nova's state machine, the rows are refreshed,
every call is audited with its caller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.simulator.core import Simulator
from tests.operations.helpers import Fleet, managed_client
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything


@pytest.fixture
async def fleet(make_sim: Callable[..., Simulator], tmp_path: Path) -> Fleet:
    """Like tests.operations.helpers.fleet, but every compute host enabled and up (the generated fleet
    has one disabled and one down of three: a move would have nowhere to go)."""
    sim = make_sim(servers=40, seed=11, transition_seconds=0.2)
    for svc in sim.state.values("compute_services"):
        svc.update(status="enabled", disabled_reason=None)
        svc.pop("_stale_since", None)
    settings = make_settings(tmp_path / "x.db", allow_modify_operations=True)
    results = await sync_everything(settings, sim)
    assert all(r.status == "succeeded" for r in results.values()), results
    return Fleet(sim=sim, settings=settings, db_path=tmp_path / "x.db")


def other_host(fleet: Fleet, s: dict[str, Any]) -> dict[str, Any]:
    """An enabled, up hypervisor in the server's zone other than its own, with the most free RAM."""
    from app.simulator.nova_create import pick_host

    h = pick_host(fleet.sim, fleet.sim.state.get("flavors", s["_flavor"]), s.get("_pinned_az"),
                  exclude=s["OS-EXT-SRV-ATTR:host"])
    assert h is not None
    return h


def flavor_named(sim: Simulator, name: str) -> dict[str, Any]:
    return next(f for f in sim.state.values("flavors") if f["name"] == name)


def small_server(fleet: Fleet) -> dict[str, Any]:
    """An idle ACTIVE server of a plain flavor (no extra specs), with a unique name."""
    for s in fleet.sim.state.values("servers"):
        fleet.sim.settle(s)
        f = fleet.sim.state.get("flavors", s["_flavor"]) or {}
        if (s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:task_state"] is None and s.get("_launched")
                and f.get("name") in ("m1.small", "m1.medium", "m1.tiny") and fleet.row("servers", s["id"])
                and sum(1 for x in fleet.sim.state.values("servers") if x["name"] == s["name"]) == 1):
            return s
    raise AssertionError("no idle small ACTIVE server")


async def confirmed(client: Any, **args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preview, result of the confirmed call)."""
    preview = await call(client, "manage_instance", **args)
    assert preview["status"] == "confirmation_required", preview
    out = await call(client, "manage_instance", confirmation_token=preview["confirmation_token"], **args)
    return preview, out


async def test_resize_preview_capacity_confirm_and_confirm_resize(fleet: Fleet) -> None:
    s = small_server(fleet)
    old_host, old_flavor = s["OS-EXT-SRV-ATTR:host"], fleet.sim.state.get("flavors", s["_flavor"])["name"]
    new = "m1.large" if old_flavor != "m1.large" else "m1.medium"
    fleet.sim.freeze()
    async with managed_client(fleet) as m:
        preview, out = await confirmed(m.client, instance_name=s["name"], action="resize", flavor=new)
        text = preview["preview"][0]
        assert f"from flavor {old_flavor} to {new}" in text and "VERIFY_RESIZE" in text
        assert "The scheduler picks the host" in text and f"other than {old_host}" in text
        assert "VCPU needs 4, free" in text and "MEMORY_MB needs 8192, free" in text and "[placement]" in text
        # accepted: the simulated server is resizing and the row says so right after the call
        assert out["status"] == "accepted" and out["request_ids"]
        assert s["OS-EXT-STS:task_state"] == "resize_prep"
        assert fleet.row("servers", s["id"])["status"] == "RESIZE"
        fleet.sim.advance(60)
        await m.followups.run()
        row = fleet.row("servers", s["id"])
        assert row["status"] == "VERIFY_RESIZE" and row["flavor_name"] == new and row["host"] != old_host
        fleet.sim.unfreeze()
        done = await call(m.client, "manage_instance", instance_name=s["name"], action="confirm_resize", wait=True,
                          timeout=30)
        assert done["status"] == "completed" and done["targets"][0]["status"] == "ACTIVE"
    assert "_migration" not in fleet.sim.settle(s) and fleet.row("servers", s["id"])["flavor_name"] == new
    rows = [(a["action"], a["outcome"], a["confirmed"], a["principal"]) for a in fleet.audit()]
    assert rows == [("resize", "preview", False, "local"), ("resize", "succeeded", True, "local"),
                    ("confirm_resize", "succeeded", False, "local")]
    assert '"flavor_id"' in fleet.audit()[1]["arguments"] and "_capacity" not in fleet.audit()[1]["arguments"]


async def test_migrate_to_a_named_host_then_revert(fleet: Fleet) -> None:
    s = small_server(fleet)
    src = s["OS-EXT-SRV-ATTR:host"]
    dest = other_host(fleet, s)["host"]
    async with mcp_client(fleet.settings, fleet.sim) as client:
        preview, out = await confirmed(client, instance_name=s["id"], action="migrate", target_host=dest,
                                       wait=True, timeout=30)
        assert f"from {src} to {dest}" in preview["preview"][0]
        assert f"Target {dest} [placement]: VCPU needs" in preview["preview"][0] and "room for" in preview["preview"][0]
        assert out["status"] == "completed"
        row = fleet.row("servers", s["id"])
        assert row["status"] == "VERIFY_RESIZE" and row["host"] == dest
        revert = await call(client, "manage_instance", instance_name=s["id"], action="revert_resize")
        assert revert["status"] == "confirmation_required" and "is lost" in revert["preview"][0]
        back = await call(client, "manage_instance", instance_name=s["id"], action="revert_resize", wait=True,
                          timeout=30, confirmation_token=revert["confirmation_token"])
        assert back["status"] == "completed"
    row = fleet.row("servers", s["id"])
    assert row["status"] == "ACTIVE" and row["host"] == src and row["task_state"] is None


async def test_live_migrate_waits_for_the_new_host_and_is_recorded(fleet: Fleet) -> None:
    s = small_server(fleet)
    dest = other_host(fleet, s)["host"]
    async with mcp_client(fleet.settings, fleet.sim) as client:
        preview, out = await confirmed(client, instance_name=s["name"], action="live_migrate", target_host=dest,
                                       wait=True, timeout=30)
        assert "Live-migrate" in preview["preview"][0] and "block_migration auto" in preview["preview"][0]
        assert out["status"] == "completed" and out["targets"][0]["fields"]["host"] == dest
        actions = await call(client, "get_instance_actions", instance=s["id"])
    assert fleet.row("servers", s["id"])["host"] == dest and fleet.row("servers", s["id"])["status"] == "ACTIVE"
    assert actions["actions"][0]["action"] == "live-migration"
    assert actions["actions"][0]["request_id"] in out["request_ids"]


async def test_refusals_change_nothing(fleet: Fleet) -> None:
    s = small_server(fleet)
    src = s["OS-EXT-SRV-ATTR:host"]
    flavor = fleet.sim.state.get("flavors", s["_flavor"])["name"]
    full = other_host(fleet, s)
    disabled = next(h for h in fleet.sim.state.values("hypervisors") if h["host"] not in (src, full["host"]))
    fleet.sim.state.get("compute_services", disabled["_service"]).update(status="disabled",
                                                                          disabled_reason="hardware repair")
    full["memory_mb"] = 1024  # Placement's MEMORY_MB inventory follows: no room for anything
    assert all(r.status == "succeeded" for r in (await sync_everything(fleet.settings, fleet.sim)).values())
    async with mcp_client(fleet.settings, fleet.sim) as client:
        errors = {
            "no room": await call_error(client, "manage_instance", instance_name=s["name"], action="migrate",
                                        target_host=full["host"]),
            "disabled": await call_error(client, "manage_instance", instance_name=s["name"], action="live_migrate",
                                         target_host=disabled["host"]),
            "unknown host": await call_error(client, "manage_instance", instance_name=s["name"], action="migrate",
                                             target_host="no-such-host"),
            "same host": await call_error(client, "manage_instance", instance_name=s["name"], action="migrate",
                                          target_host=src),
            "unknown flavor": await call_error(client, "manage_instance", instance_name=s["name"], action="resize",
                                               flavor="m9.huge"),
            "same flavor": await call_error(client, "manage_instance", instance_name=s["name"], action="resize",
                                            flavor=flavor),
            "no flavor": await call_error(client, "manage_instance", instance_name=s["name"], action="resize"),
            "malformed id": await call_error(client, "manage_instance", instance_name="not-a-uuid!",
                                             action="migrate"),
        }
    assert "has no room" in errors["no room"] and "MEMORY_MB" in errors["no room"]
    assert "needs 2048, free" in errors["no room"] or "MEMORY_MB needs" in errors["no room"]
    assert "nova-compute disabled: hardware repair" in errors["disabled"]
    assert "No compute host 'no-such-host'" in errors["unknown host"]
    assert f"already runs on {src}" in errors["same host"]
    assert "No flavor named (or with ID) 'm9.huge'" in errors["unknown flavor"]
    assert "already has flavor" in errors["same flavor"]
    assert "needs flavor" in errors["no flavor"]
    assert "No live instance has the ID or exact name 'not-a-uuid!'" in errors["malformed id"]
    assert all("Nothing was changed" in e for k, e in errors.items() if k not in ("no flavor", "malformed id"))
    assert fleet.sim.settle(s)["OS-EXT-STS:task_state"] is None and s["OS-EXT-SRV-ATTR:host"] == src
    assert [a["outcome"] for a in fleet.audit()] == ["refused"] * len(errors)


async def test_move_the_scheduler_rejects_is_reported_with_its_action(fleet: Fleet) -> None:
    """The snapshot says the target is fine, Nova accepts, then the scheduler rejects it (the host was
    disabled meanwhile): the result says the instance stayed, and get_instance_actions shows why."""
    s = small_server(fleet)
    src = s["OS-EXT-SRV-ATTR:host"]
    dest = other_host(fleet, s)
    fleet.sim.state.get("compute_services", dest["_service"])["status"] = "disabled"  # after the last sync
    async with mcp_client(fleet.settings, fleet.sim) as client:
        _, out = await confirmed(client, instance_name=s["name"], action="live_migrate", target_host=dest["host"],
                                 wait=True, timeout=30)
        actions = await call(client, "get_instance_actions", instance=s["id"], with_events=True)
    assert out["status"] == "completed" and out["targets"][0]["fields"]["host"] == src
    assert "still ACTIVE on " + src in out["message"] and "get_instance_actions" in out["message"]
    assert actions["actions"][0]["action"] == "live-migration" and actions["actions"][0]["message"] == "Error"


async def test_wrong_state_from_nova_names_the_request_id(fleet: Fleet) -> None:
    s = small_server(fleet)
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_instance", instance_name=s["name"], action="confirm_resize")
    assert "wrong state" in err and "vm_state active" in err and "OpenStack request id req-" in err


async def test_action_enum_lists_every_action(fleet: Fleet) -> None:
    async with mcp_client(fleet.settings, fleet.sim) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    enum = tools["manage_instance"].input_schema["properties"]["action"]["enum"]
    assert enum == ["start", "stop", "restart", "pause", "unpause", "suspend", "resume", "resize", "confirm_resize",
                    "revert_resize", "migrate", "live_migrate"]
    assert tools["manage_volume"].input_schema["properties"]["action"]["enum"] == [
        "create", "delete", "extend", "attach", "detach", "list"]
    for p in ("flavor", "target_host"):
        assert p in tools["manage_instance"].input_schema["properties"]
