"""Cinder v3 simulator, driven only through openstacksdk."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions


def _wait(sim: Any) -> None:
    """Let the pending transitions happen: the test froze the simulator's clock, so an in-between state
    (REBOOT, creating, extending ...) holds until this moves it, however loaded the machine is."""
    sim.advance(sim.transition_seconds + 0.01)


def test_volume_listing_filters_pagination(sim: Any, conn: Any) -> None:
    vols = list(conn.block_storage.volumes(details=True, all_projects=True))
    assert len(vols) == sim.state.count("volumes") == 30
    statuses = {v.status for v in vols}
    assert {"in-use", "available"} <= statuses
    in_use = [v for v in vols if v.status == "in-use"]
    assert len(in_use) >= 0.5 * len(vols)
    v = in_use[0]
    a = v.attachments[0]
    assert a["server_id"] and a["volume_id"] == v.id and a["device"].startswith("/dev/vd")
    assert v.host and "@" in v.host and v.project_id and v.volume_type
    assert isinstance(v.is_bootable, bool) and v.is_encrypted is False
    # the attached server lists the volume
    server = conn.compute.get_server(a["server_id"])
    assert v.id in [x["id"] for x in server.attached_volumes]
    avail = list(conn.block_storage.volumes(details=True, all_projects=True, status="available"))
    assert {x.id for x in avail} == {x.id for x in vols if x.status == "available"}
    paged = list(conn.block_storage.volumes(details=True, all_projects=True, limit=4))
    assert [x.id for x in paged] == [x.id for x in vols]
    named = vols[1].name or vols[2].name
    assert [x.name for x in conn.block_storage.volumes(all_projects=True, name=named)] == [named]
    own = list(conn.block_storage.volumes(details=True))
    assert all(x.project_id == conn.current_project_id for x in own)
    assert len(own) < len(vols)


def test_volume_create_extend_delete(sim: Any, conn: Any) -> None:
    sim.freeze()
    vol = conn.block_storage.create_volume(size=2, name="data1", volume_type="ceph-ssd")
    assert vol.status == "creating"
    _wait(sim)
    vol = conn.block_storage.get_volume(vol.id)
    assert vol.status == "available" and vol.host.startswith("storage-2@ceph") and vol.size == 2
    conn.block_storage.extend_volume(vol, 5)
    assert conn.block_storage.get_volume(vol.id).status == "extending"
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.extend_volume(vol, 8)
    _wait(sim)
    vol = conn.block_storage.get_volume(vol.id)
    assert vol.status == "available" and vol.size == 5
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.extend_volume(vol, 3)
    conn.block_storage.delete_volume(vol)
    assert conn.block_storage.get_volume(vol.id).status == "deleting"
    _wait(sim)
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_volume(vol.id)
    with pytest.raises(exceptions.ResourceNotFound):
        conn.block_storage.get_volume("no-such-volume")


def test_volume_errors(sim: Any, conn: Any) -> None:
    vols = list(conn.block_storage.volumes(details=True, all_projects=True))
    in_use = next(v for v in vols if v.status == "in-use")
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.delete_volume(in_use)
    err = [v for v in vols if v.status == "error"]
    if err:
        with pytest.raises(exceptions.BadRequestException):
            conn.block_storage.extend_volume(err[0], err[0].size + 1)
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.create_volume(size=0)


def test_snapshots(sim: Any, conn: Any) -> None:
    sim.freeze()
    snaps = list(conn.block_storage.snapshots(details=True, all_projects=True))
    assert len(snaps) == sim.state.count("snapshots") > 0
    assert all(s.progress == "100%" for s in snaps if s.status == "available")
    vol = conn.block_storage.create_volume(size=1, name="snapsrc")
    _wait(sim)
    snap = conn.block_storage.create_snapshot(volume_id=vol.id, name="s1")
    assert snap.status == "creating"
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.delete_volume(vol)
    _wait(sim)
    snap = conn.block_storage.get_snapshot(snap.id)
    assert snap.status == "available" and snap.size == 1 and snap.progress == "100%"
    conn.block_storage.delete_snapshot(snap)
    _wait(sim)
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_snapshot(snap.id)
    conn.block_storage.delete_volume(vol)


def test_types_services_pools(conn: Any) -> None:
    types = {t.name: t for t in conn.block_storage.types()}
    assert {"__DEFAULT__", "lvmdriver-1", "ceph-ssd", "multiattach"} <= set(types)
    assert types["ceph-ssd"].extra_specs["volume_backend_name"] == "ceph"
    assert types["ceph-ssd"].is_public is True
    assert types["multiattach"].extra_specs["multiattach"] == "<is> True"
    services = list(conn.block_storage.services())
    binaries = {s.binary for s in services}
    assert {"cinder-scheduler", "cinder-volume"} <= binaries
    down = [s for s in services if s.state == "down"]
    assert len(down) == 1 and down[0].binary == "cinder-volume"
    pools = list(conn.block_storage.backend_pools())
    assert pools and all(p.capabilities["total_capacity_gb"] > 0 for p in pools)


def test_version_document(conn: Any, sim: Any) -> None:
    resp = conn.block_storage.get("/volumes", microversion="3.0")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"
    resp = conn.block_storage.get("/volumes/detail", microversion="3.63")
    assert "volume_type_id" in resp.json()["volumes"][0]
    resp = conn.block_storage.get("/volumes/detail", microversion="3.0")
    assert "volume_type_id" not in resp.json()["volumes"][0]
    resp = conn.block_storage.get("/volumes/x", microversion="3.0")
    assert resp.status_code == 404 and resp.json()["itemNotFound"]["code"] == 404
