"""manage_image through the MCP client against the simulator: create (metadata only, and with an upload
from an allowed directory), update (JSON-patch of core fields and properties), delete (confirmed;
protected images refused), list; uploads outside the allowed directories (absolute, ``../``, symlink
escapes), over the size limit or with uploads disabled are refused before anything is created."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.operations.helpers import Fleet, fleet  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client


@pytest.fixture
def uploads(fleet: Fleet, tmp_path: Path) -> tuple[Fleet, Path]:
    """The fleet with OPS_IMAGE_UPLOAD_DIRS=[<tmp>/allowed] and a 4 KiB size limit."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    fleet.settings = fleet.settings.model_copy(update={"image_upload_dirs": [str(allowed)],
                                                       "image_upload_max_bytes": 4096})
    return fleet, allowed


def sim_image(fleet: Fleet, iid: str) -> dict[str, Any] | None:
    return fleet.sim.state.get("images", iid)


async def test_create_upload_update_delete(uploads: tuple[Fleet, Path]) -> None:
    fleet, allowed = uploads
    data = os.urandom(3000)
    (allowed / "disk.raw").write_bytes(data)
    async with mcp_client(fleet.settings, fleet.sim) as client:
        meta = await call(client, "manage_image", image_name="ops-meta", action="create")
        mid = meta["targets"][0]["id"]
        assert meta["status"] == "accepted" and "metadata only" in meta["preview"][0]
        assert sim_image(fleet, mid)["status"] == "queued" and sim_image(fleet, mid)["visibility"] == "private"
        assert fleet.row("images", mid)["status"] == "queued"
        assert fleet.row("images", mid)["disk_format"] == "qcow2"

        up = await call(client, "manage_image", image_name="ops-raw", action="create", disk_format="raw",
                        file_path=str(allowed / "sub" / ".." / "disk.raw"), min_disk=1,
                        properties={"os_distro": "cirros"}, wait=True, timeout=10)
        iid = up["targets"][0]["id"]
        assert up["status"] == "completed" and up["targets"][0]["status"] == "active"
        img = sim_image(fleet, iid)
        assert img["_data"] == data and img["os_distro"] == "cirros" and img["min_disk"] == 1
        row = fleet.row("images", iid)
        assert row["size_bytes"] == 3000 and row["os_distro"] == "cirros" and row["status"] == "active"

        upd = await call(client, "manage_image", image_name="ops-raw", action="update", new_name="ops-raw-2",
                         visibility="shared", protected=True, min_ram=512,
                         properties={"os_distro": "ubuntu", "hw_disk_bus": "scsi"}, wait=True, timeout=10)
        assert upd["status"] == "completed"
        img = sim_image(fleet, iid)
        assert (img["name"], img["visibility"], img["protected"], img["min_ram"]) == ("ops-raw-2", "shared", True, 512)
        assert img["os_distro"] == "ubuntu" and img["hw_disk_bus"] == "scsi"
        row = fleet.row("images", iid)
        assert (row["name"], row["visibility"], row["protected"], row["min_ram_mb"], row["os_distro"]) == (
            "ops-raw-2", "shared", 1, 512, "ubuntu")
        await call(client, "manage_image", image_name=iid, action="update", properties={"hw_disk_bus": None})
        assert "hw_disk_bus" not in sim_image(fleet, iid)

        protected = await call_error(client, "manage_image", image_name="ops-raw-2", action="delete")
        assert "protected" in protected and "protected=false" in protected and sim_image(fleet, iid)

        listed = await call(client, "manage_image", image_name="ops-", action="list")
        assert {i["id"] for i in listed["listing"]["images"]} == {mid, iid}

        preview = await call(client, "manage_image", image_name="ops-meta", action="delete")
        assert preview["status"] == "confirmation_required" and sim_image(fleet, mid) is not None
        gone = await call(client, "manage_image", image_name="ops-meta", action="delete", wait=True, timeout=10,
                          confirmation_token=preview["confirmation_token"])
        assert gone["status"] == "completed" and gone["targets"][0]["deleted"]
        assert sim_image(fleet, mid) is None and fleet.row("images", mid)["deleted_at"] is not None
    assert [(a["action"], a["outcome"]) for a in fleet.audit()] == [
        ("create", "succeeded"), ("create", "succeeded"), ("update", "succeeded"), ("update", "succeeded"),
        ("delete", "refused"), ("list", "succeeded"), ("delete", "preview"), ("delete", "succeeded")]
    assert str(allowed / "disk.raw") in fleet.audit()[1]["arguments"]  # the resolved path is audited


async def test_upload_paths_outside_allowed_dirs_are_refused(uploads: tuple[Fleet, Path], tmp_path: Path) -> None:
    fleet, allowed = uploads
    secret = tmp_path / "outside.raw"
    secret.write_bytes(b"x" * 100)
    (allowed / "link.raw").symlink_to(secret)
    (allowed / "dirlink").symlink_to(tmp_path)
    (allowed / "big.raw").write_bytes(b"x" * 5000)
    (allowed / "d").mkdir()
    before = fleet.sim.state.count("images")
    attempts = {
        "absolute": str(secret),
        "dotdot": f"{allowed}/../outside.raw",
        "symlink": str(allowed / "link.raw"),
        "dir symlink": str(allowed / "dirlink" / "outside.raw"),
        "prefix trick": f"{allowed}-evil/x.raw",
        "relative": "outside.raw",
    }
    async with mcp_client(fleet.settings, fleet.sim) as client:
        errors = {k: await call_error(client, "manage_image", image_name="x", action="create", disk_format="raw",
                                      file_path=p) for k, p in attempts.items()}
        big = await call_error(client, "manage_image", image_name="x", action="create", file_path=str(allowed / "big.raw"))
        folder = await call_error(client, "manage_image", image_name="x", action="create", file_path=str(allowed / "d"))
        missing = await call_error(client, "manage_image", image_name="x", action="create",
                                   file_path=str(allowed / "nope.raw"))
        fmt = await call_error(client, "manage_image", image_name="x", action="create", disk_format="exe")
    off = fleet.settings.model_copy(update={"image_upload_dirs": []})
    async with mcp_client(off, fleet.sim) as client:
        disabled = await call_error(client, "manage_image", image_name="x", action="create",
                                    file_path=str(allowed / "big.raw"))
    for k in ("absolute", "dotdot", "symlink", "dir symlink", "prefix trick"):
        assert "outside the directories this server may read" in errors[k], (k, errors[k])
    assert "absolute path" in errors["relative"]
    assert "5000 bytes; the limit is 4096" in big and "OPS_IMAGE_UPLOAD_MAX_BYTES" in big
    assert "not a regular file" in folder and "No such image file" in missing
    assert "disk_format must be one of" in fmt
    assert "disabled" in disabled and "OPS_IMAGE_UPLOAD_DIRS" in disabled
    assert fleet.sim.state.count("images") == before
    assert {a["outcome"] for a in fleet.audit()} == {"refused"}


async def test_glance_rejection_is_not_success(uploads: tuple[Fleet, Path]) -> None:
    fleet, allowed = uploads
    (allowed / "a.iso").write_bytes(b"iso")
    before = fleet.sim.state.count("images")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        fleet.sim.inject(r"/images/[^/]+/file$", status=503, method="PUT", count=1)  # a retry would send it empty
        err = await call_error(client, "manage_image", image_name="broken", action="create", disk_format="iso",
                               file_path=str(allowed / "a.iso"))
    assert "503" in err or "unavailable" in err.lower()
    # the half-made (queued) image was removed again: nothing reported, nothing left behind
    assert fleet.sim.state.count("images") == before
    assert fleet.audit()[-1]["outcome"] == "failed"
