"""Glance part of the fleet: ~10-20 images with realistic formats, sizes and properties."""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Any

from app.simulator.core import Simulator, iso, new_id
from app.simulator.glance import set_data_hashes, synthetic_chunks

DAY = 86400.0
MB = 1024 * 1024
SYNTHETIC_MAX = 32 * MB  # images up to this size get real, deterministic bytes

# name, disk_format, size, virtual_size, min_disk, min_ram, properties
CATALOG: tuple[tuple[str, str, int, int, int, int, dict[str, Any]], ...] = (
    ("cirros-0.6.2-x86_64-disk", "qcow2", 21430272, 117440512, 0, 0, {"os_distro": "cirros", "os_version": "0.6.2"}),
    ("cirros-0.5.2-x86_64-disk", "qcow2", 16300544, 117440512, 0, 0, {"os_distro": "cirros", "os_version": "0.5.2"}),
    ("ubuntu-24.04-server-cloudimg-amd64", "qcow2", 587530752, 3758096384, 4, 512,
     {"os_distro": "ubuntu", "os_version": "24.04", "hw_qemu_guest_agent": "yes", "os_admin_user": "ubuntu"}),
    ("ubuntu-22.04-server-cloudimg-amd64", "qcow2", 653721600, 2361393152, 3, 512,
     {"os_distro": "ubuntu", "os_version": "22.04", "hw_qemu_guest_agent": "yes", "os_admin_user": "ubuntu"}),
    ("ubuntu-20.04-server-cloudimg-amd64", "qcow2", 620625920, 2361393152, 3, 512,
     {"os_distro": "ubuntu", "os_version": "20.04", "os_admin_user": "ubuntu"}),
    ("debian-12-genericcloud-amd64", "qcow2", 335151104, 2147483648, 2, 256,
     {"os_distro": "debian", "os_version": "12", "os_admin_user": "debian"}),
    ("Fedora-Cloud-Base-40", "qcow2", 402653184, 5368709120, 5, 1024,
     {"os_distro": "fedora", "os_version": "40", "hw_rng_model": "virtio"}),
    ("CentOS-Stream-GenericCloud-9", "qcow2", 1176502272, 10737418240, 10, 1024,
     {"os_distro": "centos", "os_version": "9", "os_admin_user": "cloud-user"}),
    ("rocky-9.4-genericcloud", "qcow2", 609681408, 10737418240, 10, 1024, {"os_distro": "rocky", "os_version": "9.4"}),
    ("almalinux-9-genericcloud", "qcow2", 560463872, 10737418240, 10, 1024, {"os_distro": "almalinux", "os_version": "9"}),
    ("windows-server-2022-std", "raw", 19327352832, 19327352832, 40, 4096,
     {"os_type": "windows", "os_distro": "windows", "os_version": "2022", "hw_disk_bus": "scsi",
      "hw_scsi_model": "virtio-scsi", "hw_machine_type": "q35", "hw_firmware_type": "uefi"}),
    ("alpine-3.20-nocloud", "qcow2", 146800640, 209715200, 1, 128, {"os_distro": "alpine", "os_version": "3.20"}),
    ("amphora-x64-haproxy", "qcow2", 389021696, 2147483648, 2, 1024, {"os_distro": "ubuntu"}),
    ("k8s-node-1.30", "qcow2", 1258291200, 21474836480, 20, 2048, {"os_distro": "ubuntu", "os_version": "22.04"}),
    ("freebsd-14.1", "raw", 5368709120, 5368709120, 5, 1024, {"os_distro": "freebsd", "os_version": "14.1"}),
    ("team-web-golden-2025-06", "qcow2", 912261120, 10737418240, 10, 1024, {"os_distro": "ubuntu"}),
)


@functools.lru_cache(maxsize=64)
def synthetic_hashes(seed: int, size: int) -> dict[str, Any]:
    """size, checksum and os_hash_* of the synthetic bytes of (seed, size): hashing tens of MB is most of
    a small fleet's build time, and the same seeds recur (every simulator built with one fleet seed)."""
    out: dict[str, Any] = {}
    set_data_hashes(out, synthetic_chunks(seed, size))
    return out


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    projects = [p for p in sim.state.values("projects")]
    admin = next((p["id"] for p in projects if p.get("name") == sim.project_name), projects[0]["id"] if projects else "")
    tenants = [p["id"] for p in projects if p.get("name") not in (sim.project_name, "service")] or [admin]
    t0 = sim.now() - 360 * DAY
    count = min(len(CATALOG), 10 + n // 500)
    for i, (name, fmt, size, vsize, min_disk, min_ram, props) in enumerate(CATALOG[:count]):
        created = t0 + i * 9 * DAY + rng.random() * DAY
        img: dict[str, Any] = {
            "id": new_id(rng), "name": name,
            "status": "active", "visibility": "public", "protected": False, "os_hidden": False, "owner": admin,
            "checksum": None, "os_hash_algo": None, "os_hash_value": None, "size": size, "virtual_size": vsize,
            "min_disk": min_disk, "min_ram": min_ram, "disk_format": fmt, "container_format": "bare",
            "created_at": iso(created), "updated_at": iso(created + 40), "tags": [],
            "hw_disk_bus": "virtio", "hw_vif_model": "virtio", "owner_specified.openstack.object": f"images/{name}",
        }
        img.update(props)
        if size <= SYNTHETIC_MAX:
            img["_seed"] = rng.getrandbits(32)
            img.update(synthetic_hashes(img["_seed"], size))
        else:
            # No bytes kept for large fleet images; their hashes are those of the notional upstream file.
            seed = f"{name}:{size}".encode()
            img.update(checksum=hashlib.md5(seed, usedforsecurity=False).hexdigest(), os_hash_algo="sha512",
                       os_hash_value=hashlib.sha512(seed).hexdigest())
        img["owner_specified.openstack.md5"] = img["checksum"]
        img["owner_specified.openstack.sha256"] = ""
        if i < 3:
            img["protected"] = True
        if name.startswith("team-") or name.startswith("k8s-"):
            img.update(visibility="private", owner=tenants[i % len(tenants)])
        if name.startswith("amphora"):
            img.update(tags=["amphora"], os_hidden=False, visibility="private")
        if name.startswith("freebsd"):
            img["visibility"] = "community"
        if name.startswith("ubuntu-20.04"):
            img["status"] = "deactivated"
        if name.startswith("alpine"):
            img["visibility"] = "shared"
        sim.state.add("images", img)
    # One image that was created but never got data (stuck in queued).
    t = iso(t0 + 200 * DAY)
    sim.state.add("images", {
        "id": new_id(rng), "name": "upload-in-progress",
        "status": "queued", "visibility": "private", "protected": False, "os_hidden": False,
        "owner": tenants[0], "checksum": None, "os_hash_algo": None, "os_hash_value": None, "size": None,
        "virtual_size": None, "min_disk": 0, "min_ram": 0, "disk_format": "qcow2", "container_format": "bare",
        "created_at": t, "updated_at": t, "tags": []})
