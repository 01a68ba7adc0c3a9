"""plan_capacity, get_availability_zones and get_resource_providers through the MCP client against the
simulator (issue 13, item 2). The expected fits are computed here by hand from the raw Placement
inventories and usages as stored (the resource providers' raw JSON), not from the code under test."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tests import backend
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything


def _stored(url: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """(flavors by name, providers by name with raw inventories/usages, nova-compute services by host)."""
    flavors = {r.name: r for r in backend.rows(url, "SELECT * FROM flavors WHERE cloud='test' AND deleted_at IS NULL")}
    providers = {}
    for r in backend.rows(url, "SELECT id, name, raw FROM resource_providers WHERE cloud='test' AND deleted_at IS NULL"):
        raw = json.loads(r.raw)
        inv = raw["inventories"].get("inventories", raw["inventories"])
        use = raw["usages"].get("usages", raw["usages"])
        providers[r.name] = {"id": r.id, "inventories": inv, "usages": use}
    services = {r.host: r for r in backend.rows(
        url, "SELECT * FROM compute_services WHERE cloud='test' AND deleted_at IS NULL AND \"binary\"='nova-compute'")}
    return flavors, providers, services


def _hand_fit(provider: dict[str, Any], request: dict[str, int]) -> tuple[int, str]:
    """Placement's rule by hand: used + n * amount <= (total - reserved) * ratio, amount <= max_unit."""
    per = {}
    for rc, amount in request.items():
        inv = provider["inventories"][rc]
        if amount > inv["max_unit"]:
            per[rc] = 0
            continue
        cap = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
        per[rc] = max(0, int(math.floor((cap - provider["usages"].get(rc, 0)) / amount)))
    first = min(per, key=lambda k: per[k])
    return per[first], first


def _request(f: Any) -> dict[str, int]:
    return {"VCPU": f.vcpus, "MEMORY_MB": f.ram_mb, "DISK_GB": f.disk_gb + f.ephemeral_gb + math.ceil(f.swap_mb / 1024)}


async def test_fits_equal_a_hand_computation_from_placement(synced: Any) -> None:
    url = synced.settings.database_url
    flavors, providers, services = _stored(url)
    flavor = flavors["m1.large"]
    request = _request(flavor)
    expected: dict[str, tuple[int, str]] = {}
    excluded = {}
    for host, svc in services.items():
        hv = f"{host}.sim.local"
        if svc.status == "disabled" or svc.state == "down" or svc.forced_down:
            excluded[host] = svc
            continue
        expected[host] = _hand_fit(providers[hv], request)
    assert excluded, "the simulator's fleet has a disabled and a down compute service"

    async with mcp_client(synced.settings, synced.sim) as client:
        plan = await call(client, "plan_capacity", flavor="m1.large", count=20, limit=50)
        got = {h["host"]: (h["fits"], h["limited_by"]) for h in plan["hosts"]}
        assert got == expected
        total = sum(n for n, _ in expected.values())
        assert plan["fits_total"] == total and plan["verdict"] == ("yes" if total >= 20 else "no")
        assert plan["flavor"]["request"] == request
        assert list(plan)[0] == "summary" and plan["summary"].startswith(("Yes", "No"))
        # the excluded hosts with the reason: disabled_reason, last heartbeat
        reasons = {e["host"]: e["reason"] for e in plan["excluded"]}
        assert set(reasons) == set(excluded)
        for host, svc in excluded.items():
            if svc.status == "disabled":
                assert svc.disabled_reason in reasons[host]
            else:
                assert "down (last heartbeat" in reasons[host]
        # overall: the resource whose fits, summed over hosts, run out first
        sums = {rc: sum(_per_rc(providers[f"{h}.sim.local"], rc, request[rc]) for h in expected) for rc in request}
        assert plan["per_resource_fits"] == sums
        assert plan["limited_by"] == min(sums, key=lambda k: sums[k])
        assert plan["not_modelled"] and any("affinity" in n for n in plan["not_modelled"])

        # flavor by id, more than fits -> no, with the shortfall
        big = await call(client, "plan_capacity", flavor=flavor.id, count=total + 1)
        assert big["verdict"] == "no" and big["shortfall"] == 1 and big["fits_total"] == total
        assert big["summary"].startswith("No: only")

        # availability zone filter: only that zone's hosts, the others excluded as "in zone"
        zone_hosts = {h for h, s in services.items() if s.zone == "zone-b" and h in expected}
        zoned = await call(client, "plan_capacity", flavor="m1.large", availability_zone="zone-b", limit=50)
        assert {h["host"] for h in zoned["hosts"]} == zone_hosts
        assert zoned["fits_total"] == sum(expected[h][0] for h in zone_hosts)
        assert all(e["reason"].startswith("in zone") or e["host"] in excluded for e in zoned["excluded"])

        # a host filter (an aggregate's members)
        two = sorted(expected)[:2]
        only = await call(client, "plan_capacity", flavor="m1.large", hosts=",".join(two))
        assert sorted(h["host"] for h in only["hosts"]) == two

        # extra specs: resources:VGPU is asked for and no compute node has it; traits/PCI are listed
        gpu = await call(client, "plan_capacity", flavor="g1.xlarge")
        assert gpu["flavor"]["request"]["VGPU"] == 1
        assert gpu["fits_total"] == 0 and all(h["fits"] == 0 for h in gpu["hosts"])
        for h in gpu["hosts"]:
            vgpu = next(r for r in h["resources"] if r["resource_class"] == "VGPU")
            assert vgpu["fits"] == 0 and vgpu["blocker"] == "no VGPU inventory on this host"
        assert any("trait:CUSTOM_GPU" in n for n in gpu["not_modelled"])

        # boot from volume: the root disk is not asked of the host
        bfv = await call(client, "plan_capacity", flavor="m1.large", boot_from_volume=True)
        assert "DISK_GB" not in bfv["flavor"]["request"]

        err = await call_error(client, "plan_capacity", flavor="m1.larg")
        assert "No flavor" in err and "m1.large" in err
        err = await call_error(client, "plan_capacity", flavor="m1.large", availability_zone="zone-q")
        assert "No availability zone" in err and "zone-b" in err
        assert "No hypervisor host" in await call_error(client, "plan_capacity", flavor="m1.large", hosts="nope-1")


def _per_rc(provider: dict[str, Any], rc: str, amount: int) -> int:
    inv = provider["inventories"][rc]
    if amount > inv["max_unit"]:
        return 0
    cap = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
    return max(0, int(math.floor((cap - provider["usages"].get(rc, 0)) / amount)))


async def test_below_2_88_without_placement_the_hypervisor_fields_count_and_unknown_is_unknown(
        make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=40, release="train")
    settings = make_settings(tmp_path / "train.db")
    await sync_everything(settings, sim)
    url = settings.database_url
    with backend.connect(url, begin=True) as c:  # Placement never synced: only the hypervisor fields remain
        from sqlalchemy import text

        for t in ("resource_provider_inventories", "resource_provider_usages", "resource_providers"):
            c.execute(text(f"DELETE FROM {t}"))  # noqa: S608
    hvs = {r.host: r for r in backend.rows(url, "SELECT * FROM hypervisors WHERE cloud='test' AND deleted_at IS NULL")}
    _, _, services = _stored(url)
    flavor = backend.rows(url, "SELECT * FROM flavors WHERE cloud='test' AND name='m1.small'")[0]
    async with mcp_client(settings, sim) as client:
        plan = await call(client, "plan_capacity", flavor="m1.small", limit=50)
        for h in plan["hosts"]:
            hv = hvs[h["host"]]
            ram = (hv.memory_mb - hv.memory_mb_used) // flavor.ram_mb
            disk = (hv.local_gb - hv.local_gb_used) // flavor.disk_gb
            assert h["capacity_source"] == "hypervisor"
            assert h["fits"] == max(0, min(ram, disk)), h
            vcpu = next(r for r in h["resources"] if r["resource_class"] == "VCPU")
            assert vcpu["fits"] is None and "allocation ratio unknown" in vcpu["blocker"]
        assert {h["host"] for h in plan["hosts"]} | {e["host"] for e in plan["excluded"]} == set(hvs)

    # compute 2.88+ without Placement: no capacity at all -> unknown, never zero
    sim2 = make_sim(servers=20, release="epoxy")
    settings2 = make_settings(tmp_path / "epoxy.db")
    await sync_everything(settings2, sim2)
    with backend.connect(settings2.database_url, begin=True) as c:
        from sqlalchemy import text

        for t in ("resource_provider_inventories", "resource_provider_usages", "resource_providers"):
            c.execute(text(f"DELETE FROM {t}"))  # noqa: S608
    async with mcp_client(settings2, sim2) as client:
        plan = await call(client, "plan_capacity", flavor="m1.small", count=3)
        assert plan["verdict"] == "unknown" and plan["fits_total"] == 0
        assert plan["hosts_unknown"] == plan["eligible_hosts"] > 0
        assert all(h["fits"] is None and "unknown" in (h["note"] or "") for h in plan["hosts"])
        assert plan["summary"].startswith("Unknown")


async def test_zones_and_resource_providers(synced: Any) -> None:
    url = synced.settings.database_url
    _, providers, services = _stored(url)
    async with mcp_client(synced.settings, synced.sim) as client:
        zones = await call(client, "get_availability_zones")
        by_name = {z["name"]: z for z in zones["zones"]}
        for zone in {s.zone for s in services.values()}:
            assert by_name[zone]["compute_hosts"] == sum(1 for s in services.values() if s.zone == zone)
        bad = [h for z in zones["zones"] for h in z["hosts"] if h["problems"]]
        assert bad and zones["summary"].startswith(f"{len(by_name)} availability zones match")

        rps = await call(client, "get_resource_providers", limit=200)
        assert rps["page"]["total"] == len(providers)
        one = rps["resource_providers"][0]
        raw = providers[one["name"]]
        vcpu = next(r for r in one["resources"] if r["resource_class"] == "VCPU")
        inv = raw["inventories"]["VCPU"]
        assert vcpu["capacity"] == (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
        assert vcpu["used"] == raw["usages"]["VCPU"]
        none = await call(client, "get_resource_providers", resource_class="VGPU")
        assert none["page"]["total"] == 0
