"""Nova fleet: flavors, availability zones, hypervisors, compute services, keypairs and servers.

Servers are compact dicts created in ``created`` order (so reverse insertion order is Nova's default
``created_at desc`` listing order); everything else is rendered on request.
"""

from __future__ import annotations

import base64
import random
from typing import Any

from app.simulator.core import Simulator, iso, new_id
from app.simulator.nova_common import PAUSED, RUNNING, SHUTDOWN, SUSPENDED
from app.simulator.nova_misc import fingerprint

# name, id, vcpus, ram, disk, ephemeral, swap, extra specs, weight, public, description
FLAVORS = [
    ("m1.nano", "42", 1, 128, 1, 0, 0, {}, 1, True, None),
    ("m1.tiny", "1", 1, 512, 1, 0, 0, {}, 4, True, None),
    ("m1.small", "2", 1, 2048, 20, 0, 0, {}, 22, True, None),
    ("m1.medium", "3", 2, 4096, 40, 0, 0, {}, 30, True, None),
    ("m1.large", "4", 4, 8192, 80, 0, 0, {}, 20, True, None),
    ("m1.xlarge", "5", 8, 16384, 160, 0, 0, {}, 8, True, None),
    ("c1.xlarge", None, 8, 8192, 40, 0, 0, {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer"}, 5,
     True, "CPU pinned, for latency-sensitive workloads"),
    ("r1.large", None, 4, 32768, 80, 0, 4096, {"hw:mem_page_size": "large"}, 5, True, "Memory optimised"),
    ("g1.xlarge", None, 8, 65536, 200, 100, 0, {"pci_passthrough:alias": "a100:1", "resources:VGPU": "1",
                                                "trait:CUSTOM_GPU": "required"}, 2, True, "One NVIDIA A100"),
    ("s1.io-large", None, 4, 8192, 80, 0, 0, {"quota:disk_read_iops_sec": "5000",
                                               "quota:disk_write_iops_sec": "5000"}, 3, False, "Tenant-private IO flavor"),
]
AZ_NAMES = ["nova", "zone-b", "zone-c"]
CPU_MODELS = [
    ({"arch": "x86_64", "model": "Cascadelake-Server-noTSX", "vendor": "Intel",
      "topology": {"cells": 2, "sockets": 2, "cores": 16, "threads": 2},
      "features": ["avx512f", "avx512dq", "aes", "vmx", "sse4.2", "pdpe1gb", "pcid", "ssse3", "x2apic"]}, 64),
    ({"arch": "x86_64", "model": "EPYC-Rome", "vendor": "AMD", "topology": {"cells": 1, "sockets": 1, "cores": 48,
      "threads": 2}, "features": ["avx2", "aes", "svm", "sse4.2", "sha-ni", "pdpe1gb", "topoext", "x2apic"]}, 96),
]
MEMORY_MB = [257761, 385823, 515537, 772659]
DISK_GB = [3575, 7150, 14300]
ROLES = ["app", "api", "db", "worker", "cache", "batch", "lb", "etl", "web", "queue"]
TAGS = [[], [], [], ["prod"], ["staging"], ["prod", "pci"], ["dev"]]
# status mix: (weight, vm_state, task_state, power_state)
MIX = [(850, "active", None, RUNNING), (70, "stopped", None, SHUTDOWN), (30, "error", None, RUNNING),
       (20, "paused", None, PAUSED), (15, "suspended", None, SUSPENDED), (5, "building", "spawning", 0),
       (10, "shelved_offloaded", None, SHUTDOWN)]
STATUS = {"active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR", "paused": "PAUSED", "suspended": "SUSPENDED",
          "building": "BUILD", "shelved_offloaded": "SHELVED_OFFLOADED"}
ERROR_FAULTS = [
    (500, "No valid host was found. There are not enough hosts available.", False),
    (500, "Build of instance aborted: Volume did not finish being created even after we waited 180 seconds.", True),
    (500, "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures.", True),
    (500, "Unexpected error while running command.\nCommand: qemu-img convert\nExit code: 1", True),
]


def populate_base(sim: Simulator, n: int, rng: random.Random) -> None:
    st = sim.state
    t_base = sim.now()
    for name, fid, vcpus, ram, disk, eph, swap, specs, _w, public, desc in FLAVORS:
        st.add("flavors", {"id": fid or new_id(rng), "name": name, "ram": ram, "disk": disk, "vcpus": vcpus,
                           "swap": swap, "OS-FLV-EXT-DATA:ephemeral": eph, "OS-FLV-DISABLED:disabled": False,
                           "os-flavor-access:is_public": public, "description": desc, "_extra_specs": dict(specs)})
    n_hyp = max(3, n // 40)
    azs = AZ_NAMES[: 2 if n_hyp < 6 else 3]
    svc_int = 0
    for i in range(3 if n_hyp >= 6 else 1):
        for binary in ("nova-scheduler", "nova-conductor"):
            svc_int += 1
            st.add("compute_services", {"id": new_id(rng), "_int": svc_int, "binary": binary,
                                        "host": f"controller-{i + 1:02d}", "zone": "internal", "status": "enabled",
                                        "disabled_reason": None, "forced_down": False, "_lag": rng.randint(0, 9)})
    for i in range(n_hyp):
        host = f"compute-{i + 1:04d}"
        cpu, vcpus = CPU_MODELS[i % len(CPU_MODELS)]
        svc_int += 1
        svc: dict[str, Any] = {"id": new_id(rng), "_int": svc_int, "binary": "nova-compute", "host": host,
                               "zone": azs[i % len(azs)], "status": "enabled", "disabled_reason": None,
                               "forced_down": False, "_lag": rng.randint(0, 9)}
        if i == n_hyp - 1:
            svc.update(status="disabled", disabled_reason="maintenance: replacing failed DIMM (CHG-4821)")
        elif i == n_hyp - 2:
            svc["_stale_since"] = t_base - 3 * 3600 - rng.randint(0, 3600)
        st.add("compute_services", svc)
        st.add("hypervisors", {
            "id": new_id(rng), "_int": i + 1, "_ikey": str(i + 1), "hypervisor_hostname": f"{host}.sim.local",
            "host": host, "host_ip": f"10.20.{i // 250}.{i % 250 + 4}", "hypervisor_type": "QEMU",
            "hypervisor_version": 8002002, "vcpus": vcpus, "memory_mb": rng.choice(MEMORY_MB),
            "local_gb": rng.choice(DISK_GB), "cpu_info": cpu, "_service": svc["id"], "_az": svc["zone"],
            "_boot": t_base - rng.randint(5, 300) * 86400, "_disk_overhead": rng.randint(5, 60)})
    # keypairs: one per user, a second for every third
    for j, u in enumerate(st.values("users")):
        for k in range(1 + (j % 3 == 0)):
            blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + rng.getrandbits(256).to_bytes(32, "big")
            pub = "ssh-ed25519 " + base64.b64encode(blob).decode() + f" {u['name']}@workstation"
            name = f"{u['name']}-key" if k == 0 else f"{u['name']}-deploy"
            st.add("keypairs", {"id": f"{u['id']}:{name}", "name": name, "user_id": u["id"], "public_key": pub,
                                "fingerprint": fingerprint(pub), "type": "ssh",
                                "_created": t_base - rng.randint(30, 500) * 86400, "_int": j * 2 + k + 1})


def populate_servers(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator import neutron

    st = sim.state
    now = sim.now()
    hyps = list(st.values("hypervisors"))
    flavors = list(st.values("flavors"))
    fweights = [w for *_x, w, _p, _d in FLAVORS][: len(flavors)]
    images = [i["id"] for i in st.values("images") if i.get("status", "active") == "active"] or [""]
    image_props = {i["id"]: {k: i[k] for k in ("os_distro", "hw_disk_bus", "architecture") if i.get(k)}
                   for i in st.values("images")}
    projects = [p for p in st.values("projects") if p["name"] != "service"]
    members: dict[str, list[str]] = {}
    for a in st.values("role_assignments"):
        if a.get("user_id"):
            members.setdefault(a["project_id"], []).append(a["user_id"])
    keys_by_user: dict[str, list[str]] = {}
    for k in st.values("keypairs"):
        keys_by_user.setdefault(k["user_id"], []).append(k["name"])
    admin_id = next((u["id"] for u in st.values("users") if u["name"] == sim.username), "")
    pweights = [1 + (i * 7919) % 13 for i in range(len(projects))]
    span = 180 * 86400.0
    start = now - span - 3600
    step = span / max(n, 1)
    # Placement capacity as the scheduler sees it: (total - reserved) * allocation_ratio (placement.py)
    free_ram = {h["host"]: (h["memory_mb"] - 512) * 1.5 for h in hyps}
    free_disk = {h["host"]: float(h["local_gb"]) for h in hyps}
    mix_w = [m[0] for m in MIX]
    chosen_f = rng.choices(flavors, weights=fweights, k=n)
    chosen_p = rng.choices(projects, weights=pweights, k=n)
    chosen_m = rng.choices(MIX, weights=mix_w, k=n)
    metas: dict[tuple[str, str], dict[str, str]] = {}
    nh = len(hyps)
    for i in range(n):
        f, p, (_, vm, task, power) = chosen_f[i], chosen_p[i], chosen_m[i]
        created = start + i * step + rng.random() * step * 0.5
        team = p["name"].split("-")[0]
        role = ROLES[i % len(ROLES)]
        host = hyp = None
        if vm != "shelved_offloaded" and not (vm == "error" and i % 3 == 0):
            hi = rng.randrange(nh)
            for t in range(nh):
                cand = hyps[(hi + t) % nh]
                if free_ram[cand["host"]] >= f["ram"] and free_disk[cand["host"]] >= f["disk"]:
                    hyp = cand
                    break
            hyp = hyp or hyps[hi]
            host = hyp["host"]
            free_ram[host] -= f["ram"]
            free_disk[host] -= f["disk"]
        users = members.get(p["id"]) or [admin_id]
        uid = users[i % len(users)]
        keys = keys_by_user.get(uid)
        img = images[i % len(images)] if i % 10 else ""
        mkey = (team, role)
        meta = metas.get(mkey)
        if meta is None:
            meta = metas[mkey] = {"owner": team, "role": role}
        age = now - created
        rec: dict[str, Any] = {
            "id": new_id(rng), "name": f"{team}-{role}-{i + 1:05d}", "tenant_id": p["id"], "user_id": uid,
            "status": STATUS[vm], "OS-EXT-STS:vm_state": vm, "OS-EXT-STS:task_state": task,
            "OS-EXT-STS:power_state": power, "OS-EXT-SRV-ATTR:host": host,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": hyp["hypervisor_hostname"] if hyp else None,
            "OS-EXT-AZ:availability_zone": hyp["_az"] if hyp else ("" if vm == "error" else "nova"),
            "created": iso(created), "updated": iso(created + 40 + age * rng.random() * rng.random()),
            "_launched": None if vm == "building" or (vm == "error" and not host) else created + 25 + i % 30,
            "_flavor": f["id"], "_image": img, "key_name": keys[i % len(keys)] if keys and i % 5 < 3 else None,
            "metadata": meta if i % 3 == 0 else {}, "tags": TAGS[i % len(TAGS)], "_n": i + 1,
            "_ud": True if i % 10 < 3 else None, "locked": i % 97 == 0,
        }
        if img and image_props.get(img):
            rec["_image_props"] = image_props[img]
        if vm == "error":
            code, msg, on_host = ERROR_FAULTS[(i // 3) % len(ERROR_FAULTS)] if host else ERROR_FAULTS[0]
            rec["_fault"] = (code, created + 60, msg)
            if not host:
                rec["OS-EXT-STS:power_state"] = 0
        if vm == "building":
            rec["updated"] = iso(max(created + 30, now - 3 * 3600 - i % 3600))
        st.add("servers", rec)
        if host or vm == "shelved_offloaded":
            neutron.attach_server_port(sim, rec)
    sim._nova_seq = n  # type: ignore[attr-defined]
    # the nearly-full hypervisor: shrink its RAM so that what it hosts uses 92-97 % of its Placement
    # capacity ((memory_mb - reserved 512) * ratio 1.5), the figure the scheduler and operators watch
    if hyps:
        used = sum(fl["ram"] for s in st.values("servers") if s["OS-EXT-SRV-ATTR:host"] == hyps[0]["host"]
                   and s["OS-EXT-STS:vm_state"] != "shelved_offloaded" for fl in [st.get("flavors", s["_flavor"])])
        if used:
            hyps[0]["memory_mb"] = int(used / (1.5 * (0.92 + rng.random() * 0.05))) + 512
