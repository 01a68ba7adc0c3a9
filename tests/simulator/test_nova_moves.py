"""Nova simulator moves and volume attachments, driven through unmodified openstacksdk over HTTP: the
state machine (RESIZE -> VERIFY_RESIZE -> ACTIVE on confirm, REVERT_RESIZE back, MIGRATING), host and
flavor changes, the migration's allocation on the source while resized, instance actions recorded,
Nova's refusals, and Cinder's view of an attachment. The clock is frozen: transitions happen at
``sim.advance``."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions

from app.simulator.nova_common import host_usage
from app.simulator.nova_create import pick_host


def idle_active(sim: Any) -> dict[str, Any]:
    for s in sim.state.values("servers"):
        sim.settle(s)
        f = sim.state.get("flavors", s["_flavor"])
        if (s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:task_state"] is None and not s.get("locked")
                and f["name"] in ("m1.small", "m1.tiny", "m1.medium")
                and pick_host(sim, f, s.get("_pinned_az"), exclude=s["OS-EXT-SRV-ATTR:host"])):
            return s
    raise AssertionError("no movable server")


def step(sim: Any) -> None:
    sim.advance(60)


def test_resize_confirm_and_revert(sim: Any, conn: Any) -> None:
    sim.freeze()
    s = idle_active(sim)
    src, old = s["OS-EXT-SRV-ATTR:host"], s["_flavor"]
    new = next(f for f in sim.state.values("flavors") if f["name"] == "m1.large")
    conn.compute.resize_server(s["id"], new["id"])
    got = conn.compute.get_server(s["id"])
    assert (got.status, got.task_state) == ("RESIZE", "resize_prep")
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "VERIFY_RESIZE" and got.compute_host != src and got.flavor.original_name == "m1.large"
    assert host_usage(sim)[src][1] >= sim.state.get("flavors", old)["ram"]  # the source keeps the old allocation
    with pytest.raises(exceptions.ConflictException, match="vm_state resized"):
        conn.compute.resize_server(s["id"], old)
    conn.compute.revert_server_resize(s["id"])
    assert conn.compute.get_server(s["id"]).status == "REVERT_RESIZE"
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "ACTIVE" and got.compute_host == src and s["_flavor"] == old
    conn.compute.resize_server(s["id"], new["id"])
    step(sim)
    conn.compute.confirm_server_resize(s["id"])
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "ACTIVE" and got.flavor.original_name == "m1.large" and "_migration" not in s
    names = [a.action for a in conn.compute.server_actions(s["id"])]
    assert names[:4] == ["confirmResize", "resize", "revertResize", "resize"]


def test_resize_refusals(sim: Any, conn: Any) -> None:
    s = idle_active(sim)
    with pytest.raises(exceptions.BadRequestException, match="must change flavor"):
        conn.compute.resize_server(s["id"], s["_flavor"])
    with pytest.raises(exceptions.BadRequestException, match="Unable to locate requested flavor"):
        conn.compute.resize_server(s["id"], "no-such-flavor")
    with pytest.raises(exceptions.ConflictException, match="vm_state active"):
        conn.compute.confirm_server_resize(s["id"])


def test_cold_and_live_migration(sim: Any, conn: Any) -> None:
    sim.freeze()
    for svc in sim.state.values("compute_services"):  # the generated fleet has one host disabled, one down
        svc.update(status="enabled", disabled_reason=None)
        svc.pop("_stale_since", None)
    s = idle_active(sim)
    src = s["OS-EXT-SRV-ATTR:host"]
    dest = pick_host(sim, sim.state.get("flavors", s["_flavor"]), s.get("_pinned_az"), exclude=src)["host"]
    with pytest.raises(exceptions.BadRequestException, match="where the server exists"):
        conn.compute.migrate_server(s["id"], host=src)
    with pytest.raises(exceptions.BadRequestException, match="Compute host nowhere could not be found"):
        conn.compute.migrate_server(s["id"], host="nowhere")
    r = conn.compute.post(f"/servers/{s['id']}/action", json={"migrate": {"host": dest}}, microversion="2.55")
    assert r.status_code == 400 and "'host' was unexpected" in r.text
    conn.compute.migrate_server(s["id"], host=dest)
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "VERIFY_RESIZE" and got.compute_host == dest
    conn.compute.confirm_server_resize(s["id"])
    step(sim)
    back = pick_host(sim, sim.state.get("flavors", s["_flavor"]), s.get("_pinned_az"), exclude=dest)
    assert back is not None
    conn.compute.live_migrate_server(s["id"], host=back["host"], block_migration="auto")
    assert conn.compute.get_server(s["id"]).status == "MIGRATING"
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "ACTIVE" and got.compute_host == back["host"]
    acts = list(conn.compute.server_actions(s["id"]))
    assert acts[0].action == "live-migration" and acts[0].message is None


def test_live_migration_the_scheduler_rejects_leaves_the_server(sim: Any, conn: Any) -> None:
    sim.freeze()
    s = idle_active(sim)
    src = s["OS-EXT-SRV-ATTR:host"]
    for svc in sim.state.values("compute_services"):  # nowhere to go
        if svc["binary"] == "nova-compute" and svc["host"] != src:
            svc["status"] = "disabled"
    conn.compute.live_migrate_server(s["id"], block_migration="auto")
    step(sim)
    got = conn.compute.get_server(s["id"])
    assert got.status == "ACTIVE" and got.compute_host == src and got.task_state is None
    act = next(iter(conn.compute.server_actions(s["id"])))
    full = conn.compute.get_server_action(act.request_id, s["id"])
    assert full.message == "Error" and full.events[0]["result"] == "Error"
    assert "No valid host" in full.events[0]["traceback"]


def test_volume_attach_detach(sim: Any, conn: Any) -> None:
    sim.freeze()
    s = idle_active(sim)
    v = next(v for v in sim.state.values("volumes") if sim.settle(v)["status"] == "available")
    conn.compute.create_volume_attachment(s["id"], volume_id=v["id"])
    assert conn.block_storage.get_volume(v["id"]).status == "attaching"
    with pytest.raises(exceptions.BadRequestException, match="status must be available"):
        other = next(x for x in sim.state.values("servers") if x["id"] != s["id"]
                     and sim.settle(x)["OS-EXT-STS:vm_state"] == "active" and x["OS-EXT-STS:task_state"] is None)
        conn.compute.create_volume_attachment(other["id"], volume_id=v["id"])
    step(sim)
    vol = conn.block_storage.get_volume(v["id"])
    assert vol.status == "in-use" and [a["server_id"] for a in vol.attachments] == [s["id"]]
    assert v["id"] in [a["id"] for a in conn.compute.get_server(s["id"]).attached_volumes]
    conn.compute.delete_volume_attachment(s["id"], v["id"], ignore_missing=False)
    assert conn.block_storage.get_volume(v["id"]).status == "detaching"
    step(sim)
    assert conn.block_storage.get_volume(v["id"]).status == "available"
    assert v["id"] not in [a["id"] for a in conn.compute.get_server(s["id"]).attached_volumes]
    with pytest.raises(exceptions.NotFoundException, match="not attached"):
        conn.compute.delete_volume_attachment(s["id"], v["id"], ignore_missing=False)
    assert [a.action for a in conn.compute.server_actions(s["id"])][:2] == ["detach_volume", "attach_volume"]
