"""A write whose target vanished out of band (OpenStack answers 404) is reported honestly *and* the snapshot
stops showing the target live: the flow refreshes the row (a targeted refresh tombstones ids whose GET
answers 404, or whose status means gone). A 404 about something else the write refers to leaves the
target live and says so."""

from __future__ import annotations

from typing import Any

import openstack
import pytest

from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error


def sdk(fleet: Fleet) -> Any:
    return openstack.connect(**fleet.sim.connect_kwargs())


async def confirm_after_vanishing(fleet: Fleet, tool: str, ref: dict[str, Any], vanish: Any) -> tuple[str, Any]:
    """Preview the delete, make the target vanish out of band, confirm: (error text, the server's app)."""
    async with managed_client(fleet) as m:
        preview = await call(m.client, tool, action="delete", **ref)
        assert preview["status"] == "confirmation_required"
        vanish()
        err = await call_error(m.client, tool, action="delete", confirmation_token=preview["confirmation_token"],
                               **ref)
        return err, m


async def test_confirmed_volume_delete_of_a_vanished_volume_tombstones_it(fleet: Fleet) -> None:
    v = fleet.volume("available")
    conn = sdk(fleet)

    def vanish() -> None:  # someone else deletes it between the preview and the confirmation
        conn.block_storage.delete_volume(v["id"])
        fleet.sim.advance(60)
        assert conn.block_storage.find_volume(v["id"]) is None

    try:
        err, _ = await confirm_after_vanishing(fleet, "manage_volume", {"volume_name": v["name"]}, vanish)
    finally:
        conn.close()
    assert "no longer exists" in err and "now shows it as deleted" in err
    assert fleet.row("volumes", v["id"])["deleted_at"] is not None
    audit = fleet.audit()[-1]
    assert audit["outcome"] == "failed" and "no longer exists" in audit["error"]
    async with managed_client(fleet) as m:
        listed = await call(m.client, "get_volume_list", name=v["name"])
        missing = await call_error(m.client, "manage_volume", action="delete", volume_name=v["name"])
    assert listed["volumes"] == []
    assert "No live volume" in missing


async def test_confirmed_stack_delete_of_a_stack_deleted_elsewhere_tombstones_it(fleet: Fleet) -> None:
    """Heat answers the second DELETE with 404 but its GET by id still shows DELETE_COMPLETE: gone all the same."""
    s = next(x for x in fleet.sim.state.values("stacks") if fleet.sim.settle(x)["stack_status"] == "CREATE_COMPLETE"
             and [y["stack_name"] for y in fleet.sim.state.values("stacks")].count(x["stack_name"]) == 1)
    conn = sdk(fleet)

    def vanish() -> None:
        conn.orchestration.delete(f"/stacks/{s['stack_name']}/{s['id']}")
        fleet.sim.advance(60)
        assert conn.orchestration.get(f"/stacks/{s['id']}").json()["stack"]["stack_status"] == "DELETE_COMPLETE"

    try:
        err, _ = await confirm_after_vanishing(fleet, "manage_stack", {"stack_name": s["stack_name"]}, vanish)
    finally:
        conn.close()
    assert "no longer exists" in err
    assert fleet.row("stacks", s["id"])["deleted_at"] is not None


@pytest.mark.parametrize("action", ["start", "stop"])
async def test_any_write_on_a_vanished_server_tombstones_it(fleet: Fleet, action: str) -> None:
    s = fleet.server("stopped" if action == "start" else "active")
    fleet.sim.freeze()
    conn = sdk(fleet)
    try:
        conn.compute.delete_server(s["id"])
        fleet.sim.advance(60)
        assert conn.compute.find_server(s["id"]) is None
    finally:
        conn.close()
    async with managed_client(fleet) as m:
        token = None
        if action == "stop":  # destructive: preview first (the snapshot still shows the server)
            token = (await call(m.client, "manage_instance", instance_name=s["id"], action=action))[
                "confirmation_token"]
        err = await call_error(m.client, "manage_instance", instance_name=s["id"], action=action,
                               confirmation_token=token)
    assert "no longer exists" in err and s["id"] in err
    assert fleet.row("servers", s["id"])["deleted_at"] is not None


async def test_a_404_about_something_else_keeps_the_target(fleet: Fleet) -> None:
    """Associating a floating IP with a port that vanished: Neutron says 404 (the port), the floating IP itself
    still exists and stays live; the vanished port's row is tombstoned."""
    from tests.tools.test_manage_fip import free_server, port_of

    s = free_server(fleet)
    conn = sdk(fleet)
    try:
        async with managed_client(fleet) as m:
            fid = (await call(m.client, "manage_floating_ip", action="create"))["targets"][0]["id"]
            extra = conn.network.create_port(network_id=fleet.sim.state.get("ports", port_of(fleet, s["id"]))[
                "network_id"], device_id=s["id"], device_owner="compute:nova")
            await m.app.sync.refresh("ports", [extra.id])
            conn.network.delete_port(extra.id)  # out of band, after the snapshot saw it
            err = await call_error(m.client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                                   port_id=extra.id)
    finally:
        conn.close()
    assert "itself still exists" in err
    assert fleet.row("floating_ips", fid)["deleted_at"] is None
    assert fleet.row("ports", extra.id)["deleted_at"] is not None


async def test_an_id_missing_from_the_snapshot_while_openstack_cannot_be_asked_says_so(fleet: Fleet) -> None:
    """A volume created out of band (not synced yet) is looked up live by its ID; when OpenStack
    cannot answer that GET, the refusal says so instead of claiming there is no such volume."""
    conn = sdk(fleet)
    try:
        v = conn.block_storage.create_volume(size=1, name="made-elsewhere")
    finally:
        conn.close()
    fleet.sim.inject(rf"/volumes/{v.id}$", status=503)
    async with managed_client(fleet) as m:
        err = await call_error(m.client, "manage_volume", action="extend", volume_name=v.id, new_size=2)
    assert "could not be asked" in err and "Nothing was changed" in err and "No live volume has the ID or" not in err
    fleet.sim.clear_faults()
    async with managed_client(fleet) as m:  # reachable again: found live, and acted on
        done = await call(m.client, "manage_volume", action="extend", volume_name=v.id, new_size=2)
    assert done["status"] != "confirmation_required" and fleet.row("volumes", v.id) is not None
