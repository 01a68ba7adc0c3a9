"""plan_capacity's host base and fast path (issue 11): the per-host numbers summed over the fleet
(fit_numbers) are exactly host_fit's; the base is read once per data version of the kinds it comes
from and read again when they move."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from app.context import open_app_context
from app.services import planning
from app.services import planning_read as pr
from app.services.planning_fit import fit_numbers, host_fit
from app.services.planning_read import Host, Slot
from tests.tools.conftest import make_settings

REQUESTS = [
    {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 80},
    {"VCPU": 1, "MEMORY_MB": 512},
    {"MEMORY_MB": 3000, "DISK_GB": 7},
    {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20, "VGPU": 1},
    {"CUSTOM_NIC": 3},
    {},
]


def _slot(rng: random.Random) -> Slot | None:
    if rng.random() < 0.1:
        return None  # no inventory of the class
    total = None if rng.random() < 0.05 else rng.choice([0, 7, 64, 96, 4096, 262144, 14300])
    return Slot(None if total is None else (total - rng.choice([0, 0, 1, 512])) * rng.choice([1.0, 1.5, 16.0, 0.9]),
                rng.choice([0, 3, 100, 4096, 10**6]), rng.choice([None, 1.0, 1.5]),
                rng.choice([None, 1, 2, 5000]), rng.choice([None, 1, 4, 96, 10**6]), rng.choice([None, 0, 1, 2, 3]))


def _hosts(rng: random.Random, n: int) -> tuple[list[Host], dict[tuple[str, str], Slot], dict[str, list[str]]]:
    hosts, slots, tree = [], {}, {}
    for i in range(n):
        source = rng.choice(["placement"] * 6 + ["hypervisor", None])
        rp = f"rp-{i}" if source == "placement" else None
        fields = [rng.choice([None, 0, 1024, 65536]) for _ in range(4)]
        hosts.append(Host(f"hv-{i}", f"host-{i}", f"host-{i}.local", "nova", None, source, rp, *fields))
        if rp is None:
            continue
        tree[rp] = [rp] + [f"{rp}-child-{c}" for c in range(rng.choice([0, 0, 1, 2]))]
        for p in tree[rp]:
            for rc in ("VCPU", "MEMORY_MB", "DISK_GB", "VGPU", "CUSTOM_NIC"):
                if (s := _slot(rng)) is not None:
                    slots[(p, rc)] = s
    return hosts, slots, tree


def test_fit_numbers_are_host_fits_numbers() -> None:
    rng = random.Random(11)
    hosts, slots, tree = _hosts(rng, 400)
    for request in REQUESTS:
        for h in hosts:
            n, limited, fits, _note = host_fit(h, request, slots, tree)
            expected = (n, limited.split(" ", 1)[0] if limited else None, tuple(f.fits for f in fits))
            assert fit_numbers(h, request, slots, tree) == expected, (h, request)


async def test_the_host_base_is_kept_while_its_kinds_data_versions_hold(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=40)
    async with open_app_context(make_settings(tmp_path / "plan.db"), **sim.connect_kwargs()) as app:
        await app.sync.sync_all()

        async def plan(**kw: Any) -> planning.CapacityPlan:
            args = {"flavor": "m1.small", "count": 1, "availability_zone": None, "hosts": None,
                    "boot_from_volume": False, "limit": 50, "offset": 0, **kw}
            return await planning.plan_capacity(app, **args)

        async def kept() -> pr.HostBase:
            return await app.db.read(pr.host_base, app.db, app.cloud_name)  # type: ignore[no-any-return]

        first = await plan()
        base = await kept()
        again = await plan(count=5)
        assert await kept() is base and again.fits_total == first.fits_total

        # A servers-only change moves none of the base's kinds: the base stays, Placement's usage is as synced.
        planned = {h.host for h in first.hosts}
        victim = next(s for s in sim.state.values("servers")
                      if s["status"] == "ACTIVE" and s.get("OS-EXT-SRV-ATTR:host") in planned)
        sim.state.remove("servers", victim["id"])
        await app.sync.full_sync("servers")
        assert (await plan()).fits_total == first.fits_total and await kept() is base

        # Placement synced: the usage moved, the base is read again and the plan sees the freed room.
        await app.sync.full_sync("resource_providers")
        after = await plan()
        assert await kept() is not base
        host = victim["OS-EXT-SRV-ATTR:host"]
        before = {r.resource_class: r.used for h in first.hosts if h.host == host for r in h.resources}
        now = {r.resource_class: r.used for h in after.hosts if h.host == host for r in h.resources}
        assert before and now["VCPU"] < before["VCPU"] and now["MEMORY_MB"] < before["MEMORY_MB"]
        assert after.fits_total >= first.fits_total
