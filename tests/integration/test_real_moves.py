"""Moves, volume attachments and a failed build against real upstream services (../shared/real-openstack:
Nova 34 with two fake-driver computes, compute1 and compute2).

* resize + confirm_resize: RESIZE -> VERIFY_RESIZE with the new flavor, then ACTIVE; the preview shows the
  capacity the snapshot knows (no Placement endpoint here: hypervisor fields, or unknown).
* cold migrate to the other compute host and confirm: VERIFY_RESIZE on the new host, then ACTIVE there;
  a migration to the host it is on is refused up front; one to a host Nova does not know is refused.
* live migrate to the other compute host (block migration auto): ACTIVE there, or, if the fake driver's
  move fails after Nova accepted it, a result that says the instance stayed.
* attach / detach through Nova: this Nova keeps its in-process Cinder fixture for attachments (see
  conftest.ensure_fleet), so the server's attached volumes follow (Nova's block device mappings) while the
  real Cinder volume stays ``available``: the test checks the server side and says so.
* issue 10's proof: a server Nova cannot place (a flavor bigger than any fake host) goes to ERROR with a
  Nova ``fault``; after a sync, get_instance_details and get_instances_by_status(status='ERROR') show it.

Each test creates its own ``mcpit-w-*`` resources and removes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PREFIX, Fleet, Synced, query, wait_for
from .test_real_writes import name, session

pytestmark = [pytest.mark.real_openstack, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


def flavor(conn: Any, suffix: str, **spec: Any) -> Any:
    f = conn.compute.find_flavor(f"{PREFIX}{suffix}")
    return f or conn.compute.create_flavor(name=f"{PREFIX}{suffix}", **spec)


@pytest.fixture
def server(conn: Any, fleet: Fleet) -> Iterator[Any]:
    """A fresh ACTIVE server of the suite's small flavor (deleted afterwards)."""
    s = conn.compute.create_server(name=name("move"), flavor_id=fleet.flavor, image_id=fleet.image,
                                   networks=[{"uuid": fleet.net}])
    s = conn.compute.wait_for_server(s, interval=0.3, wait=120)
    try:
        yield conn.compute.get_server(s.id)
    finally:
        conn.compute.delete_server(s.id, ignore_missing=True)
        conn.compute.wait_for_delete(s, interval=0.3, wait=120)


def host_of(conn: Any, sid: str) -> str:
    return conn.compute.get_server(sid).compute_host


async def test_resize_then_confirm(synced: Synced, conn: Any, fleet: Fleet, server: Any, tmp_path: Path) -> None:
    medium = flavor(conn, "medium", vcpus=1, ram=512, disk=1)
    async with session(synced, tmp_path) as s:
        await s.app.sync.sync_all(["flavors"])
        await s.app.sync.refresh("servers", [server.id])
        preview = await s.call("manage_instance", instance_name=server.id, action="resize", flavor=medium.name)
        assert preview["status"] == "confirmation_required"
        assert f"to {medium.name}" in preview["preview"][0] and "The scheduler picks the host" in preview["preview"][0]
        out = await s.call("manage_instance", instance_name=server.id, action="resize", flavor=medium.name, wait=True,
                           timeout=120, confirmation_token=preview["confirmation_token"])
        assert out["status"] == "completed", out
        assert out["request_ids"] and out["request_ids"][0].startswith("req-")
        row = query(s.db, "SELECT status, flavor_name, task_state FROM servers WHERE id = ?", server.id)[0]
        assert row == ("VERIFY_RESIZE", medium.name, None), row
        assert conn.compute.get_server(server.id).status == "VERIFY_RESIZE"
        done = await s.call("manage_instance", instance_name=server.id, action="confirm_resize", wait=True, timeout=120)
        assert done["status"] == "completed" and done["targets"][0]["status"] == "ACTIVE"
        await s.followups_done()
    nova = conn.compute.get_server(server.id)
    assert nova.status == "ACTIVE" and nova.flavor.original_name == medium.name
    actions = [a.action for a in conn.compute.server_actions(server.id)]
    assert "resize" in actions and "confirmResize" in actions


async def test_cold_migrate_to_the_other_host(synced: Synced, conn: Any, fleet: Fleet, server: Any,
                                              tmp_path: Path) -> None:
    src = host_of(conn, server.id)
    hosts = {h.service_details["host"] for h in conn.compute.hypervisors(details=True)}
    others = sorted(hosts - {src})
    async with session(synced, tmp_path) as s:
        await s.app.sync.refresh("servers", [server.id])
        same = await s.error("manage_instance", instance_name=server.id, action="migrate", target_host=src)
        assert f"already runs on {src}" in same and "Nothing was changed" in same
        unknown = await s.error("manage_instance", instance_name=server.id, action="migrate",
                                target_host="no-such-compute")
        assert "No compute host 'no-such-compute'" in unknown
        if not others:  # a one-host cloud: Nova's own refusal must reach the user with its request id
            preview = await s.call("manage_instance", instance_name=server.id, action="migrate")
            err = await s.error("manage_instance", instance_name=server.id, action="migrate",
                                confirmation_token=preview["confirmation_token"])
            assert "OpenStack request id req-" in err
            pytest.skip(f"one compute host only ({src}): checked the refusal, not a migration")
        dest = others[0]
        preview = await s.call("manage_instance", instance_name=server.id, action="migrate", target_host=dest)
        assert f"from {src} to {dest}" in preview["preview"][0] and f"Target {dest}" in preview["preview"][0]
        out = await s.call("manage_instance", instance_name=server.id, action="migrate", target_host=dest, wait=True,
                           timeout=120, confirmation_token=preview["confirmation_token"])
        assert out["status"] == "completed", out
        assert query(s.db, "SELECT status, host FROM servers WHERE id = ?", server.id)[0] == ("VERIFY_RESIZE", dest)
        done = await s.call("manage_instance", instance_name=server.id, action="confirm_resize", wait=True, timeout=120)
        assert done["status"] == "completed" and done["targets"][0]["fields"]["host"] == dest
        await s.followups_done()
    assert host_of(conn, server.id) == dest and conn.compute.get_server(server.id).status == "ACTIVE"


async def test_live_migrate_to_the_other_host(synced: Synced, conn: Any, fleet: Fleet, server: Any,
                                              tmp_path: Path) -> None:
    src = host_of(conn, server.id)
    others = sorted({h.service_details["host"] for h in conn.compute.hypervisors(details=True)} - {src})
    if not others:
        pytest.skip(f"one compute host only ({src})")
    async with session(synced, tmp_path) as s:
        await s.app.sync.refresh("servers", [server.id])
        preview = await s.call("manage_instance", instance_name=server.id, action="live_migrate",
                               target_host=others[0])
        assert "block_migration auto" in preview["preview"][0] and f"Target {others[0]}" in preview["preview"][0]
        out = await s.call("manage_instance", instance_name=server.id, action="live_migrate", target_host=others[0],
                           wait=True, timeout=120, confirmation_token=preview["confirmation_token"])
        assert out["status"] == "completed", out
        await s.followups_done()
    nova = conn.compute.get_server(server.id)
    if nova.compute_host == src:  # Nova accepted, then the move failed: the result must have said so
        assert "still ACTIVE on " + src in out["message"], out["message"]
    else:
        assert nova.compute_host == others[0] and out["targets"][0]["fields"]["host"] == others[0]
    assert nova.status == "ACTIVE"


async def test_attach_and_detach_a_volume(synced: Synced, conn: Any, fleet: Fleet, server: Any,
                                          tmp_path: Path) -> None:
    vol = conn.block_storage.create_volume(size=1, name=name("vol"))
    vol = wait_for(lambda: conn.block_storage.get_volume(vol.id), lambda v: v.status == "available", what="volume")
    try:
        async with session(synced, tmp_path) as s:
            await s.app.sync.refresh("servers", [server.id])
            await s.app.sync.refresh("volumes", [vol.id])
            out = await s.call("manage_volume", action="attach", volume_name=vol.name, instance_name=server.id)
            assert out["status"] == "accepted" and out["request_ids"], out
            assert any(a.volume_id == vol.id for a in conn.compute.volume_attachments(server.id))
            # the server's row follows Nova right after the call (refreshed with the volume)
            assert query(s.db, "SELECT volume_id FROM server_volumes WHERE server_id = ?", server.id) == [(vol.id,)]
            # Nova here attaches through its in-process Cinder fixture: the real Cinder volume never changes
            assert conn.block_storage.get_volume(vol.id).status == "available"
            err = await s.error("manage_volume", action="detach", volume_name=vol.id)
            assert "is not attached to any instance" in err  # Cinder's view, which the snapshot shows
            preview = await s.call("manage_volume", action="detach", volume_name=vol.id, instance_name=server.id)
            assert preview["status"] == "confirmation_required"
            out = await s.call("manage_volume", action="detach", volume_name=vol.id, instance_name=server.id,
                               confirmation_token=preview["confirmation_token"])
            assert out["request_ids"]
            wait_for(lambda: list(conn.compute.volume_attachments(server.id)), lambda a: not a, what="detach")
            await s.app.sync.refresh("servers", [server.id])
            assert query(s.db, "SELECT volume_id FROM server_volumes WHERE server_id = ?", server.id) == []
            await s.followups_done()
    finally:
        conn.block_storage.delete_volume(vol.id, ignore_missing=True)


async def test_error_server_fault_is_shown(synced: Synced, conn: Any, fleet: Fleet, tmp_path: Path) -> None:
    """Issue 10: a real ERROR server's Nova fault in get_instance_details and get_instances_by_status."""
    # 32 GiB of RAM: within the project quota, more than either fake host has (8 GiB x 1.5)
    huge = flavor(conn, "nofit", vcpus=1, ram=32 * 1024, disk=1)
    s_ = conn.compute.create_server(name=name("error"), flavor_id=huge.id, image_id=fleet.image,
                                    networks=[{"uuid": fleet.net}])
    try:
        nova = wait_for(lambda: conn.compute.get_server(s_.id), lambda x: x.status == "ERROR", what="ERROR")
        fault = nova.fault
        assert fault and fault.get("message"), nova
        async with session(synced, tmp_path) as s:
            await s.app.sync.sync_all(["servers"])
            details = await s.call("get_instance_details", instance_ids=s_.id)
            listed = await s.call("get_instances_by_status", status="ERROR", limit=200)
        got = details["instances"][0]["fault"]
        assert got["message"] == fault["message"] and got["code"] == fault["code"], (got, fault)
        row = next(i for i in listed["instances"] if i["id"] == s_.id)
        assert row["fault"]["message"] == fault["message"]
    finally:
        conn.compute.delete_server(s_.id, ignore_missing=True)
        conn.compute.wait_for_delete(s_, interval=0.3, wait=120)
