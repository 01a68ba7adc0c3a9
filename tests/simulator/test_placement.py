"""Placement simulator through openstacksdk."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions


def test_resource_providers_mirror_hypervisors(sim: Any, conn: Any) -> None:
    rps = list(conn.placement.resource_providers())
    hyps = {h.id: h for h in conn.compute.hypervisors()}
    assert {rp.id for rp in rps} == set(hyps)
    assert all(rp.name == hyps[rp.id].name for rp in rps)
    assert all(rp.generation >= 1 for rp in rps)
    with pytest.raises(exceptions.NotFoundException):
        conn.placement.get_resource_provider("00000000-0000-0000-0000-000000000000")


def test_inventories_and_usages_match_servers(sim: Any, conn: Any) -> None:
    rp = next(iter(conn.placement.resource_providers()))
    inv = {i.resource_class: i for i in conn.placement.resource_provider_inventories(rp)}
    assert set(inv) == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert (inv["VCPU"].allocation_ratio, inv["MEMORY_MB"].allocation_ratio, inv["DISK_GB"].allocation_ratio) == \
        (16.0, 1.5, 1.0)
    assert inv["MEMORY_MB"].reserved == 512 and inv["VCPU"].min_unit == 1 and inv["DISK_GB"].step_size == 1
    usages = conn.placement.get(f"/resource_providers/{rp.id}/usages", microversion="1.9").json()["usages"]
    servers = [s for s in conn.compute.servers(details=True, all_projects=True)
               if s.hypervisor_hostname == rp.name and s.status not in ("DELETED", "SHELVED_OFFLOADED")]
    assert servers
    assert usages["VCPU"] == sum(s.flavor.vcpus for s in servers)
    assert usages["MEMORY_MB"] == sum(s.flavor.ram for s in servers)
    assert usages["DISK_GB"] == sum(s.flavor.disk + s.flavor.ephemeral + s.flavor.swap // 1024 for s in servers)


def test_version_header_and_project_usages(sim: Any, conn: Any) -> None:
    r = conn.placement.get("/resource_providers", microversion="1.14")
    assert r.headers["OpenStack-API-Version"] == "placement 1.14"
    assert "root_provider_uuid" in r.json()["resource_providers"][0]
    r = conn.placement.get("/resource_providers", headers={"OpenStack-API-Version": "placement 1.99"},
                           raise_exc=False)
    assert r.status_code == 406 and r.json()["errors"][0]["status"] == 406
    project = conn.current_project_id
    u = conn.placement.get(f"/usages?project_id={project}", microversion="1.9").json()["usages"]
    assert set(u) == {"VCPU", "MEMORY_MB", "DISK_GB"}
