"""manage_volume and manage_snapshot through the MCP client against the simulator: create, extend,
delete (confirmed), list; snapshot rows follow right after each call and reach the final state with
wait=True; quota and permission errors are clear; nothing is reported as success unless accepted."""

from __future__ import annotations

from typing import Any

from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client


def sim_volume(fleet: Fleet, vid: str) -> dict[str, Any] | None:
    v = fleet.sim.state.get("volumes", vid)
    return fleet.sim.settle(v) if v is not None else None


async def confirmed(client: Any, tool: str, **args: Any) -> dict[str, Any]:
    preview = await call(client, tool, **args)
    assert preview["status"] == "confirmation_required"
    return await call(client, tool, confirmation_token=preview["confirmation_token"], **args)


async def test_volume_lifecycle(fleet: Fleet) -> None:
    fleet.sim.freeze()  # transitions happen when this test moves the clock
    async with managed_client(fleet) as m:
        client = m.client
        created = await call(client, "manage_volume", action="create", volume_name="ops-data", size=3,
                             availability_zone="nova", description="scratch")
        vid = created["targets"][0]["id"]
        # right after the call: the cloud has it, the snapshot has it (creating), nothing invented
        assert created["status"] == "accepted" and created["request_ids"]
        assert sim_volume(fleet, vid)["name"] == "ops-data"
        row = fleet.row("volumes", vid)
        assert row["name"] == "ops-data" and row["size_gb"] == 3 and row["status"] == "creating"
        fleet.sim.advance(60)
        await m.followups.run()  # the follow-up refresh converges the row
        assert fleet.row("volumes", vid)["status"] == "available"

        ext = await call(client, "manage_volume", action="extend", volume_name="ops-data", new_size=5)
        assert ext["status"] == "accepted" and fleet.row("volumes", vid)["status"] == "extending"
        fleet.sim.advance(60)
        await m.followups.run()
        assert fleet.row("volumes", vid)["size_gb"] == 5
        fleet.sim.unfreeze()  # from here on: waits for final states on a running clock
        ext = await call(client, "manage_volume", action="extend", volume_name=vid, new_size=8, wait=True,
                         timeout=60)
        assert ext["status"] == "completed"
        assert fleet.row("volumes", vid)["size_gb"] == 8 and sim_volume(fleet, vid)["size"] == 8
        assert ext["targets"][0]["fields"]["size_gb"] == 8 and ext["targets"][0]["status"] == "available"

        listed = await call(client, "manage_volume", action="list", volume_name="ops-data")
        assert [v["id"] for v in listed["listing"]["volumes"]] == [vid] and listed["listing"]["total"] == 1

        gone = await confirmed(client, "manage_volume", action="delete", volume_name="ops-data", wait=True,
                               timeout=60)
        assert gone["status"] == "completed" and gone["targets"][0]["deleted"] is True
        assert sim_volume(fleet, vid) is None
        assert fleet.row("volumes", vid)["deleted_at"] is not None
    outcomes = [(a["action"], a["outcome"]) for a in fleet.audit()]
    assert outcomes == [("create", "succeeded"), ("extend", "succeeded"), ("extend", "succeeded"),
                        ("list", "succeeded"), ("delete", "preview"), ("delete", "succeeded")]
    assert vid in fleet.audit()[0]["targets"] and "scratch" in fleet.audit()[0]["arguments"]


async def test_volume_refusals_change_nothing(fleet: Fleet) -> None:
    v = fleet.volume("available")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        preview = await call(client, "manage_volume", action="delete", volume_name=v["name"])
        shrink = await call_error(client, "manage_volume", action="extend", volume_name=v["name"], new_size=1)
        no_size = await call_error(client, "manage_volume", action="create", volume_name="x")
        bad = await call_error(client, "manage_volume", action="resize", volume_name=v["name"])
    assert v["name"] in preview["preview"][0] and "destroyed" in preview["preview"][0]
    assert preview["targets"][0]["status"] == "available"
    assert "larger than the current size" in shrink
    assert "needs size" in no_size
    assert "Unknown action 'resize'" in bad and "create, delete, extend, attach, detach, list" in bad
    assert sim_volume(fleet, v["id"])["status"] == "available"
    assert fleet.row("volumes", v["id"])["deleted_at"] is None


async def test_cinder_400_on_attached_volume_is_not_success(fleet: Fleet) -> None:
    v = fleet.volume("in-use")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        preview = await call(client, "manage_volume", action="delete", volume_name=v["id"])
        err = await call_error(client, "manage_volume", action="delete", volume_name=v["id"],
                               confirmation_token=preview["confirmation_token"])
    assert "OpenStack rejected the request" in err and "in-use" in err
    assert sim_volume(fleet, v["id"])["status"] == "in-use"
    assert fleet.audit()[-1]["outcome"] == "failed" and fleet.audit()[-1]["confirmed"] == 1


async def test_quota_and_forbidden_are_clear_errors(fleet: Fleet) -> None:
    before = fleet.sim.state.count("volumes")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        fleet.sim.inject(r"/volumes$", status=413, method="POST", count=1)
        quota = await call_error(client, "manage_volume", action="create", volume_name="big", size=5000)
        fleet.sim.inject(r"/volumes$", status=403, method="POST", count=1)
        forbidden = await call_error(client, "manage_volume", action="create", volume_name="big", size=1)
    assert "Quota exceeded" in quota and "raise the quota" in quota
    assert "forbids" in forbidden
    assert fleet.sim.state.count("volumes") == before
    assert [a["outcome"] for a in fleet.audit()] == ["failed", "failed"]


async def test_snapshot_lifecycle(fleet: Fleet) -> None:
    v = fleet.volume("available")
    fleet.sim.freeze()
    async with managed_client(fleet) as m:
        client = m.client
        made = await call(client, "manage_snapshot", action="create", snapshot_name="ops-snap", volume_name=v["name"])
        sid = made["targets"][0]["id"]
        assert made["status"] == "accepted"
        assert fleet.sim.state.get("snapshots", sid)["volume_id"] == v["id"]
        row = fleet.row("volume_snapshots", sid)
        assert row["volume_id"] == v["id"] and row["name"] == "ops-snap" and row["status"] == "creating"
        fleet.sim.advance(60)
        await m.followups.run()
        assert fleet.row("volume_snapshots", sid)["status"] == "available"
        fleet.sim.unfreeze()
        listed = await call(client, "manage_snapshot", action="list", volume_name=v["id"])
        assert sid in [s["id"] for s in listed["listing"]["snapshots"]]

        preview = await call(client, "manage_snapshot", action="delete", snapshot_name="ops-snap")
        assert preview["status"] == "confirmation_required" and fleet.sim.state.get("snapshots", sid) is not None
        done = await call(client, "manage_snapshot", action="delete", snapshot_name="ops-snap",
                          confirmation_token=preview["confirmation_token"], wait=True, timeout=60)
        assert done["status"] == "completed" and done["targets"][0]["deleted"]
        assert fleet.sim.state.get("snapshots", sid) is None
        assert fleet.row("volume_snapshots", sid)["deleted_at"] is not None

        made = await call(client, "manage_snapshot", action="create", snapshot_name="waited", volume_name=v["id"],
                          wait=True, timeout=60)
        assert made["status"] == "completed" and made["targets"][0]["status"] == "available"
        missing = await call_error(client, "manage_snapshot", action="create", snapshot_name="s", volume_name="nope-vol")
    assert "No live volume has the ID or exact name 'nope-vol'" in missing
    assert [(a["action"], a["outcome"]) for a in fleet.audit()] == [
        ("create", "succeeded"), ("list", "succeeded"), ("delete", "preview"), ("delete", "succeeded"),
        ("create", "succeeded"), ("create", "refused")]
