"""Cinder part of the fleet: volume types, services (one backend down), ~n/2 volumes (~60% attached,
orphans, a few errors) and snapshots. Volume records keep only non-empty fields (rendering fills in
the rest) so a 50,000-instance fleet stays small."""

from __future__ import annotations

import random
from typing import Any

from app.simulator.cinder import attach
from app.simulator.core import Simulator, iso_micro, new_id

DAY = 86400.0
SIZES = (1, 5, 10, 10, 20, 20, 40, 50, 100, 100, 200, 500, 1000)
TYPES = (
    # name, backend, extra specs, public, description
    ("__DEFAULT__", None, {}, True, "Default Volume Type"),
    ("lvmdriver-1", "lvmdriver-1", {}, True, None),
    ("ceph-ssd", "ceph", {"rbd:exclusive_lock": "True"}, True, "Replicated SSD pool"),
    ("multiattach", "ceph", {"multiattach": "<is> True"}, True, "Shared-disk volumes"),
    ("nfs-legacy", "nfs-legacy", {}, False, "Old NFS array, being retired"),
)
SERVICES = (
    # binary, host, up, capacity, protocol, vendor
    ("cinder-scheduler", "controller", True, 0, "", ""),
    ("cinder-backup", "controller", True, 0, "", ""),
    ("cinder-volume", "storage-1@lvmdriver-1", True, 10240, "iSCSI", "Open Source"),
    ("cinder-volume", "storage-2@ceph", True, 204800, "ceph", "Open Source"),
    ("cinder-volume", "storage-3@nfs-legacy", False, 51200, "nfs", "Open Source"),
)


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    st = sim.state
    now = sim.now()
    t0 = now - 380 * DAY
    types = []
    for name, backend, specs, public, desc in TYPES:
        es = dict(specs)
        if backend:
            es["volume_backend_name"] = backend
        t = {"id": new_id(rng), "name": name, "description": desc, "is_public": public, "extra_specs": es,
             "qos_specs_id": None}
        if name == "lvmdriver-1":
            t["_default"] = True
        if "multiattach" in specs:
            t["_multiattach"] = True
        types.append(st.add("volume_types", t))
    hosts: dict[str, dict[str, Any]] = {}
    for i, (binary, host, up, cap, proto, vendor) in enumerate(SERVICES):
        s = st.add("volume_services", {
            "id": f"{binary}:{host}", "binary": binary, "host": host, "zone": "nova", "status": "enabled",
            "state": "up" if up else "down", "updated_at": iso_micro(now - 3 * DAY - 611) if not up else None,
            "disabled_reason": None, "cluster": None, "_uuid": new_id(rng), "_capacity_gb": cap,
            "_protocol": proto, "_vendor": vendor})
        if binary == "cinder-volume":
            hosts[host.split("@")[1]] = s

    users_by_project: dict[str, str] = {}
    for u in st.values("users"):
        users_by_project.setdefault(u.get("default_project_id") or "", u["id"])
    fallback_user = next(iter(users_by_project.values()), None)
    servers = [s for s in st.values("servers")
               if s.get("status") in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED")]
    projects = [p["id"] for p in st.values("projects") if p.get("name") != "service"] or [""]
    images = [(i["id"], i.get("name")) for i in st.values("images") if i.get("status") == "active"]
    weighted = [types[1]] * 5 + [types[2]] * 3 + [types[3]] + [types[4]]

    n_vol = max(4, n // 2)
    n_attached = min(len(servers), int(n_vol * 0.6)) if servers else 0
    picks = rng.sample(range(len(servers)), n_attached) if n_attached else []
    devices = {}
    for i in range(n_vol):
        vt = weighted[i % len(weighted)]
        backend = vt["extra_specs"].get("volume_backend_name", "lvmdriver-1")
        svc = hosts.get(backend) or hosts["lvmdriver-1"]
        created = t0 + (i / n_vol) * 370 * DAY + rng.random() * 3600
        server = servers[picks[i]] if i < n_attached else None
        project = (server.get("tenant_id") or server.get("project_id")) if server else projects[i % len(projects)]
        v: dict[str, Any] = {
            "id": new_id(rng), "name": f"vol-{i:05d}" if i % 7 else None, "status": "available",
            "size": SIZES[rng.randrange(len(SIZES))], "availability_zone": "nova", "created_at": iso_micro(created),
            "updated_at": iso_micro(created + 120), "volume_type": vt["name"], "volume_type_id": vt["id"],
            "user_id": users_by_project.get(project, fallback_user),
            "os-vol-host-attr:host": f"{svc['host']}#{backend}", "os-vol-tenant-attr:tenant_id": project,
            "service_uuid": svc["_uuid"], "attach_status": "detached",
        }
        if vt.get("_multiattach"):
            v["multiattach"] = True
        if i % 5 == 0 and images:
            img_id, img_name = images[i % len(images)]
            v["bootable"] = True
            v["volume_image_metadata"] = {"image_id": img_id, "image_name": img_name, "checksum": "",
                                          "container_format": "bare", "disk_format": "qcow2",
                                          "min_disk": "0", "min_ram": "0", "size": "0"}
        if i % 11 == 3:
            v["description"] = "data volume"
        if server is not None:
            k = devices.get(server["id"], 0)
            devices[server["id"]] = k + 1
            attach(sim, v, server["id"], server.get("OS-EXT-SRV-ATTR:host"), f"/dev/vd{chr(ord('b') + k)}",
                   created + 300)
        elif not svc["state"] == "up" or i % 53 == 7:
            v["status"] = "error"
            v.pop("os-vol-host-attr:host")
            v.pop("service_uuid")
        st.add("volumes", v)
        if i % 9 == 4 and v["status"] != "error":
            st.add("snapshots", {
                "id": new_id(rng), "name": f"{v['name'] or 'vol'}-snap", "description": None,
                "status": "available" if i % 90 != 4 else "error", "size": v["size"], "volume_id": v["id"],
                "created_at": iso_micro(created + 7 * DAY), "updated_at": iso_micro(created + 7 * DAY + 60),
                "os-extended-snapshot-attributes:progress": "100%",
                "os-extended-snapshot-attributes:project_id": project, "user_id": v["user_id"]})
