"""Capacity against real Placement (``OS_PLACEMENT_PORT=8778 ./start-openstack.sh``): the snapshot's
resource providers, inventories and usages equal what Placement answers, and v_hypervisor_capacity
computes capacity from them ((total - reserved) * allocation_ratio; used from usages).

.ci/run runs this module in a second pass with ``OS_PLACEMENT_PORT`` set (the conftest starts the
services with it when none answer); without a placement entry in the catalog it skips, and
test_real_openstack.test_placement_is_unavailable_with_a_reason covers that deployment shape."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from app.context import open_app_context
from tests.integration.conftest import AUTH, make_settings, query, run_sync

pytestmark = pytest.mark.real_openstack


def has_placement(conn: Any) -> bool:
    try:
        return bool(conn.session.get_endpoint(service_type="placement", interface="public"))
    except Exception:  # noqa: BLE001 - keystoneauth raises EndpointNotFound (and others) for a missing entry
        return False


@pytest.fixture(scope="module")
def placement_db(conn: Any, fleet: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not has_placement(conn):
        pytest.skip("no placement endpoint in the catalog: start the services with OS_PLACEMENT_PORT=8778")
    db = tmp_path_factory.mktemp("placement") / "snapshot.db"
    results, _ = asyncio.run(run_sync(make_settings(db), ["resource_providers", "hypervisors", "compute_services"]))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, "succeeded"), \
        {k: r.error for k, r in results.items()}
    return db


def test_providers_inventories_and_usages_match_placement(conn: Any, placement_db: Path) -> None:
    api = conn.placement
    truth_inv: dict[tuple[str, str], tuple[int, int, float]] = {}
    truth_use: dict[tuple[str, str], int] = {}
    rps = list(api.resource_providers())
    assert rps, "real Placement lists no resource provider"
    for rp in rps:
        for inv in api.resource_provider_inventories(rp):
            truth_inv[(rp.id, inv.resource_class)] = (inv.total, inv.reserved, float(inv.allocation_ratio))
        usages = api.get(f"/resource_providers/{rp.id}/usages").json()["usages"]
        for rc, used in usages.items():
            truth_use[(rp.id, rc)] = used
    stored_rps = {r[0] for r in query(placement_db, "SELECT id FROM resource_providers WHERE deleted_at IS NULL")}
    assert stored_rps == {rp.id for rp in rps}
    stored_inv = {(r[0], r[1]): (r[2], r[3], float(r[4])) for r in query(
        placement_db, "SELECT resource_provider_id, resource_class, total, reserved, allocation_ratio "
                      "FROM resource_provider_inventories")}
    assert stored_inv == truth_inv
    stored_use = {(r[0], r[1]): r[2] for r in query(
        placement_db, "SELECT resource_provider_id, resource_class, used FROM resource_provider_usages")}
    assert {k: v for k, v in stored_use.items() if v} == {k: v for k, v in truth_use.items() if v}


def test_capacity_view_uses_placement_and_computes_it_exactly(conn: Any, placement_db: Path) -> None:
    rows = query(placement_db, "SELECT hypervisor_hostname, capacity_source, resource_provider_id, vcpus_total, "
                               "vcpus_used, memory_mb_total, memory_mb_used FROM v_hypervisor_capacity")
    assert rows, "no hypervisor in the snapshot"
    api = conn.placement
    for host, source, rp_id, vcpus_total, vcpus_used, mem_total, mem_used in rows:
        assert source == "placement" and rp_id, (host, source)
        inv = {i.resource_class: i for i in api.resource_provider_inventories(rp_id)}
        used = api.get(f"/resource_providers/{rp_id}/usages").json()["usages"]
        want_vcpus = (inv["VCPU"].total - inv["VCPU"].reserved) * float(inv["VCPU"].allocation_ratio)
        want_mem = (inv["MEMORY_MB"].total - inv["MEMORY_MB"].reserved) * float(inv["MEMORY_MB"].allocation_ratio)
        assert float(vcpus_total) == pytest.approx(want_vcpus) and float(mem_total) == pytest.approx(want_mem)
        assert vcpus_used == used.get("VCPU", 0) and mem_used == used.get("MEMORY_MB", 0)


PLAN_KINDS = ["hypervisors", "resource_providers", "compute_services", "flavors", "availability_zones"]


def hand_fit(amount: int, inv: Any, used: int) -> int:
    """Placement's rule, computed independently: allocations of ``amount`` that still fit."""
    if inv.max_unit is not None and amount > inv.max_unit:
        return 0
    capacity = (inv.total - inv.reserved) * float(inv.allocation_ratio)
    return max(0, math.floor((capacity - used) / amount))


def test_plan_capacity_equals_a_hand_computation_from_placement(
        conn: Any, fleet: Any, placement_db: Path, tmp_path: Path) -> None:
    """plan_capacity's per-host and total fits for the fleet's flavor equal Placement's own numbers:
    per resource class floor(((total - reserved) * allocation_ratio - used) / amount), max_unit
    respected, the host's fit the smallest of them; hosts whose nova-compute is disabled or down
    excluded."""
    from app.services.planning import plan_capacity

    flavor = conn.compute.get_flavor(fleet.flavor)
    request = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram,
               "DISK_GB": flavor.disk + (flavor.ephemeral or 0) + math.ceil((flavor.swap or 0) / 1024)}
    request = {rc: n for rc, n in request.items() if n}
    db = tmp_path / "plan.db"
    results, _ = asyncio.run(run_sync(make_settings(db), PLAN_KINDS))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, "succeeded"), \
        {k: r.error for k, r in results.items()}

    api = conn.placement
    up = {s.host for s in conn.compute.services(binary="nova-compute") if s.status == "enabled" and s.state == "up"}
    hypervisors = {h.name: h for h in conn.compute.hypervisors(details=True)}
    want: dict[str, int] = {}
    for rp in api.resource_providers():
        if rp.name not in hypervisors or getattr(hypervisors[rp.name], "service_details", {}).get("host") not in up:
            continue
        inv = {i.resource_class: i for i in api.resource_provider_inventories(rp)}
        used = api.get(f"/resource_providers/{rp.id}/usages").json()["usages"]
        want[rp.name] = min(hand_fit(n, inv[rc], used.get(rc, 0)) if rc in inv else 0 for rc, n in request.items())
    assert want, "no eligible compute node with a resource provider in real Placement"

    async def plan() -> Any:
        async with open_app_context(make_settings(db), **AUTH) as app:
            return await plan_capacity(app, flavor=flavor.name, count=1, availability_zone=None, hosts=None,
                                       boot_from_volume=False, limit=50, offset=0)

    p = asyncio.run(plan())
    got = {h.hypervisor_hostname: h.fits for h in p.hosts}
    assert got == want, (got, want, p.summary)
    assert all(h.capacity_source == "placement" for h in p.hosts)
    assert p.fits_total == sum(want.values()) and p.complete
    assert p.flavor.request == request
    assert p.verdict == ("yes" if sum(want.values()) >= 1 else "no"), p.summary
