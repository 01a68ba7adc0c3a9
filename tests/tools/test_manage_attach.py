"""manage_volume attach / detach through the MCP client against the simulator: Nova attaches the Cinder
volume (attaching -> in-use with an attachment), both the volume row and the server's attached volumes
are refreshed, detach needs confirmation, refusals are clear and change nothing, every call is audited."""

from __future__ import annotations

from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client


def attached_to(fleet: Fleet, server_id: str) -> set[str]:
    from tests import backend

    return {r.volume_id for r in backend.rows(fleet.url, "SELECT volume_id FROM server_volumes WHERE server_id = :s",
                                              s=server_id)}


def attachments_of(fleet: Fleet, volume_id: str) -> list[tuple[str, str]]:
    from tests import backend

    return [(r.server_id, r.device) for r in backend.rows(
        fleet.url, "SELECT server_id, device FROM volume_attachments WHERE volume_id = :v", v=volume_id)]


async def test_attach_refreshes_volume_and_server_then_detach_with_confirmation(fleet: Fleet) -> None:
    s, v = fleet.server("active"), fleet.volume("available")
    fleet.sim.freeze()
    async with managed_client(fleet) as m:
        out = await call(m.client, "manage_volume", action="attach", volume_name=v["name"], instance_name=s["name"],
                         device="/dev/vdq")
        # accepted: Cinder shows the volume attaching; the snapshot row says so right after the call
        assert out["status"] == "accepted" and out["request_ids"] and out["targets"][0]["status"] == "attaching"
        assert fleet.row("volumes", v["id"])["status"] == "attaching"
        assert f"to instance {s['name']}" in out["preview"][0] and "/dev/vdq" in out["preview"][0]
        fleet.sim.advance(60)
        await m.followups.run()  # the follow-up converges both rows
        assert fleet.row("volumes", v["id"])["status"] == "in-use"
        assert attachments_of(fleet, v["id"]) == [(s["id"], "/dev/vdq")]
        assert v["id"] in attached_to(fleet, s["id"])
        fleet.sim.unfreeze()
        preview = await call(m.client, "manage_volume", action="detach", volume_name=v["id"])
        assert preview["status"] == "confirmation_required" and "guest loses the disk" in preview["preview"][0]
        assert s["id"] in preview["preview"][0] or s["name"] in preview["preview"][0]
        assert fleet.sim.settle(v)["status"] == "in-use"  # nothing changed by the preview
        done = await call(m.client, "manage_volume", action="detach", volume_name=v["id"], wait=True, timeout=30,
                          confirmation_token=preview["confirmation_token"])
        assert done["status"] == "completed" and done["targets"][0]["status"] == "available"
        await m.followups.run()
    assert attachments_of(fleet, v["id"]) == [] and v["id"] not in attached_to(fleet, s["id"])
    assert fleet.sim.settle(v)["attachments"] == []
    rows = [(a["action"], a["outcome"], a["confirmed"], a["principal"]) for a in fleet.audit()]
    assert rows == [("attach", "succeeded", False, "local"), ("detach", "preview", False, "local"),
                    ("detach", "succeeded", True, "local")]
    assert s["id"] in fleet.audit()[0]["arguments"]  # the resolved server is audited with the call


async def test_attach_wait_and_instance_action(fleet: Fleet) -> None:
    s, v = fleet.server("active"), fleet.volume("available")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        out = await call(client, "manage_volume", action="attach", volume_name=v["id"], instance_name=s["id"],
                         wait=True, timeout=30)
        actions = await call(client, "get_instance_actions", instance=s["id"])
    assert out["status"] == "completed" and out["targets"][0]["status"] == "in-use"
    assert actions["actions"][0]["action"] == "attach_volume"


async def test_attach_detach_refusals(fleet: Fleet) -> None:
    s, free = fleet.server("active"), fleet.volume("available")
    busy = fleet.volume("in-use")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        errors = {
            "in use": await call_error(client, "manage_volume", action="attach", volume_name=busy["id"],
                                       instance_name=s["id"]),
            "not attached": await call_error(client, "manage_volume", action="detach", volume_name=free["id"]),
            "no instance": await call_error(client, "manage_volume", action="attach", volume_name=free["id"]),
            "unknown instance": await call_error(client, "manage_volume", action="attach", volume_name=free["id"],
                                                 instance_name="no-such-server"),
            "bad device": await call_error(client, "manage_volume", action="attach", volume_name=free["id"],
                                           instance_name=s["id"], device="vdb"),
            "unknown volume": await call_error(client, "manage_volume", action="attach", volume_name="no-such-vol",
                                               instance_name=s["id"]),
        }
    assert "rejected the request" in errors["in use"] and "status must be available" in errors["in use"]
    assert "OpenStack request id req-" in errors["in use"]
    assert "is not attached to any instance" in errors["not attached"]
    assert "needs instance_name" in errors["no instance"]
    assert "No live instance has the ID or exact name 'no-such-server'" in errors["unknown instance"]
    assert "device must be a guest device path" in errors["bad device"]
    assert "No live volume has the ID or exact name 'no-such-vol'" in errors["unknown volume"]
    assert fleet.sim.settle(free)["status"] == "available" and fleet.sim.settle(busy)["status"] == "in-use"
    assert [a["outcome"] for a in fleet.audit()] == ["failed", *["refused"] * 5]
