"""Each reporting view returns the right numbers on hand-inserted rows (live rows only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, inspect, text

from app.db.meta import metadata
from app.db.migrate import upgrade
from app.resources.registry import load_all_tables
from tests import backend

NOW = datetime(2026, 1, 1, 12, 0)
GONE = datetime(2026, 1, 1, 11, 0)
C = "c1"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    """A connection to a freshly migrated database on the backend under test (tests/backend.py)."""
    load_all_tables()
    with backend.connect(backend.new_database_url(tmp_path, "v.db"), begin=True) as c:
        yield c  # type: ignore[misc]  (the blocking facade: execute / run_sync)


def put(conn: Connection, table: str, id: str | None = None, deleted: bool = False, **cols: Any) -> None:
    t = metadata.tables[table]
    values: dict[str, Any] = {"cloud": C, **cols}
    if t.info.get("snapshot"):
        values.update(id=id, raw={}, first_seen_at=NOW, last_seen_at=NOW, last_sync_id=1,
                      deleted_at=GONE if deleted else None)
    conn.execute(insert(t).values(**values))


def rows(conn: Connection, view: str, order: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {view} ORDER BY {order}"))]


def test_v_instances(conn: Connection) -> None:
    put(conn, "projects", "p1", name="alpha")
    put(conn, "users", "u1", name="alice")
    put(conn, "flavors", "f1", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
    put(conn, "images", "i1", name="cirros")
    # new microversion: embedded flavor; old microversion: flavor by id
    put(conn, "servers", "s1", name="web", status="ACTIVE", project_id="p1", user_id="u1", host="cmp1",
        availability_zone="nova", flavor_name="m1.large", flavor_vcpus=4, flavor_ram_mb=8192, flavor_disk_gb=80,
        image_id="i1", power_state_name="RUNNING")
    put(conn, "servers", "s2", name="db", status="SHUTOFF", project_id="p1", flavor_id="f1")
    put(conn, "servers", "s3", name="gone", status="ACTIVE", deleted=True)
    put(conn, "server_addresses", server_id="s1", network_name="net", ip_address="10.0.0.5", ip_version=4, ip_type="fixed")
    put(conn, "server_addresses", server_id="s1", network_name="net", ip_address="203.0.113.9", ip_version=4, ip_type="floating")
    got = rows(conn, "v_instances", "id")
    assert [r["id"] for r in got] == ["s1", "s2"]
    s1, s2 = got
    assert (s1["flavor_name"], s1["vcpus"], s1["ram_mb"], s1["disk_gb"]) == ("m1.large", 4, 8192, 80)
    assert (s2["flavor_name"], s2["vcpus"], s2["ram_mb"], s2["disk_gb"]) == ("m1.small", 1, 2048, 20)
    assert (s1["project_name"], s1["user_name"], s1["image_name"], s1["host"]) == ("alpha", "alice", "cirros", "cmp1")
    assert (s1["fixed_ips"], s1["floating_ips"]) == ("10.0.0.5", "203.0.113.9")
    assert (s2["fixed_ips"], s2["floating_ips"]) == (None, None)


def _inventory(conn: Connection, rp: str, rc: str, total: int, reserved: int, ratio: float) -> None:
    put(conn, "resource_provider_inventories", resource_provider_id=rp, resource_class=rc, total=total,
        reserved=reserved, min_unit=1, max_unit=total, step_size=1, allocation_ratio=ratio)


def test_v_hypervisor_capacity(conn: Connection) -> None:
    # h1: Placement provider with the same uuid; h2: matched by name; h3: legacy fields only; h4: nothing known
    put(conn, "hypervisors", "uuid-1", hypervisor_hostname="cmp1", state="up", status="enabled")
    put(conn, "hypervisors", "uuid-2", hypervisor_hostname="cmp2", state="up", status="enabled")
    put(conn, "hypervisors", "7", hypervisor_hostname="cmp3", state="down", status="enabled",
        vcpus=32, vcpus_used=8, memory_mb=131072, memory_mb_used=32768, local_gb=1000, local_gb_used=250)
    put(conn, "hypervisors", "uuid-4", hypervisor_hostname="cmp4", state="up", status="enabled")
    put(conn, "hypervisors", "uuid-5", hypervisor_hostname="cmp5", deleted=True)
    put(conn, "resource_providers", "uuid-1", name="cmp1.example")
    put(conn, "resource_providers", "rp-2", name="cmp2")
    put(conn, "resource_providers", "rp-old", name="cmp4", deleted=True)
    _inventory(conn, "uuid-1", "VCPU", 16, 2, 4.0)          # (16-2)*4 = 56
    _inventory(conn, "uuid-1", "MEMORY_MB", 65536, 512, 1.5)  # 65024*1.5 = 97536
    _inventory(conn, "uuid-1", "DISK_GB", 1000, 0, 1.0)
    put(conn, "resource_provider_usages", resource_provider_id="uuid-1", resource_class="VCPU", used=14)
    put(conn, "resource_provider_usages", resource_provider_id="uuid-1", resource_class="MEMORY_MB", used=48768)
    _inventory(conn, "rp-2", "VCPU", 8, 0, 1.0)
    got = {r["hypervisor_hostname"]: r for r in rows(conn, "v_hypervisor_capacity", "hypervisor_hostname")}
    assert set(got) == {"cmp1", "cmp2", "cmp3", "cmp4"}
    h1 = got["cmp1"]
    assert (h1["capacity_source"], h1["resource_provider_id"]) == ("placement", "uuid-1")
    assert (h1["vcpus_total"], h1["vcpus_used"], h1["vcpus_used_pct"]) == (56, 14, 25.0)
    assert (h1["memory_mb_total"], h1["memory_mb_used"], h1["memory_used_pct"]) == (97536, 48768, 50.0)
    assert (h1["disk_gb_total"], h1["disk_gb_used"], h1["disk_used_pct"]) == (1000, 0, 0.0)
    h2 = got["cmp2"]
    assert (h2["resource_provider_id"], h2["vcpus_total"], h2["vcpus_used"], h2["memory_mb_total"]) == ("rp-2", 8, 0, None)
    h3 = got["cmp3"]
    assert h3["capacity_source"] == "hypervisor"
    assert (h3["vcpus_total"], h3["vcpus_used"], h3["vcpus_used_pct"]) == (32, 8, 25.0)
    assert (h3["memory_mb_total"], h3["memory_used_pct"], h3["disk_gb_total"], h3["disk_used_pct"]) == (131072, 25.0, 1000, 25.0)
    h4 = got["cmp4"]  # its only provider is tombstoned: nothing invented
    assert (h4["capacity_source"], h4["vcpus_total"], h4["vcpus_used_pct"]) == (None, None, None)


def test_v_volumes(conn: Connection) -> None:
    put(conn, "projects", "p1", name="alpha")
    put(conn, "servers", "s1", name="web")
    put(conn, "volumes", "v1", name="data", size_gb=10, status="in-use", project_id="p1", multiattach=True)
    put(conn, "volumes", "v2", name="spare", size_gb=5, status="available", project_id="p1")
    put(conn, "volumes", "v3", name="old", size_gb=5, status="available", deleted=True)
    put(conn, "volume_attachments", volume_id="v1", server_id="s1", attachment_id="a1", device="/dev/vdb")
    put(conn, "volume_attachments", volume_id="v1", server_id="s-unknown", attachment_id="a2")
    got = rows(conn, "v_volumes", "id")
    assert [r["id"] for r in got] == ["v1", "v2"]
    v1, v2 = got
    assert v1["attachment_count"] == 2 and v1["project_name"] == "alpha"
    assert sorted(v1["attached_server_names"].split(", ")) == ["s-unknown", "web"]
    assert sorted(v1["attached_server_ids"].split(", ")) == ["s-unknown", "s1"]
    assert (v2["attachment_count"], v2["attached_server_names"]) == (0, None)


def test_v_down_services(conn: Connection) -> None:
    put(conn, "compute_services", "cs1", binary="nova-compute", host="cmp1", zone="nova", status="enabled", state="up")
    put(conn, "compute_services", "cs2", binary="nova-compute", host="cmp2", zone="nova", status="enabled", state="down",
        updated_at=GONE)
    put(conn, "compute_services", "cs3", binary="nova-compute", host="cmp3", zone="nova", status="disabled", state="up",
        disabled_reason="maintenance")
    put(conn, "compute_services", "cs4", binary="nova-compute", host="cmp4", status="disabled", state="down", deleted=True)
    put(conn, "network_agents", "na1", binary="neutron-l3-agent", host="net1", alive=True, admin_state_up=True)
    put(conn, "network_agents", "na2", binary="neutron-dhcp-agent", host="net2", alive=False, admin_state_up=True)
    put(conn, "network_agents", "na3", binary="neutron-ovs-agent", host="cmp1", alive=True, admin_state_up=False)
    put(conn, "volume_services", "vs1", binary="cinder-volume", host="st@ceph", zone="nova", status="enabled", state="up")
    put(conn, "volume_services", "vs2", binary="cinder-volume", host="st@lvm", zone="nova", status="enabled", state="down")
    got = rows(conn, "v_down_services", "service, host")
    assert [(r["service"], r["host"], r["state"], r["status"]) for r in got] == [
        ("block_storage", "st@lvm", "down", "enabled"),
        ("compute", "cmp2", "down", "enabled"),
        ("compute", "cmp3", "up", "disabled"),
        ("network", "cmp1", "up", "disabled"),
        ("network", "net2", "down", "enabled"),
    ]
    assert got[2]["disabled_reason"] == "maintenance"


def test_v_project_usage(conn: Connection) -> None:
    put(conn, "projects", "p1", name="alpha")
    put(conn, "projects", "p2", name="empty")
    put(conn, "projects", "p3", name="deleted", deleted=True)
    put(conn, "flavors", "f1", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
    put(conn, "servers", "s1", project_id="p1", status="ACTIVE", flavor_vcpus=4, flavor_ram_mb=8192)
    put(conn, "servers", "s2", project_id="p1", status="SHUTOFF", flavor_id="f1")
    put(conn, "servers", "s3", project_id="p1", status="ACTIVE", flavor_vcpus=8, flavor_ram_mb=1, deleted=True)
    put(conn, "servers", "s4", project_id="orphan", status="ACTIVE", flavor_vcpus=2, flavor_ram_mb=512)
    put(conn, "volumes", "v1", project_id="p1", size_gb=10)
    put(conn, "volumes", "v2", project_id="p1", size_gb=5)
    put(conn, "volumes", "v3", project_id="p1", size_gb=100, deleted=True)
    got = {r["project_id"]: r for r in rows(conn, "v_project_usage", "project_id")}
    assert set(got) == {"p1", "p2", "orphan"}
    p1 = got["p1"]
    assert (p1["project_name"], p1["instances"], p1["instances_active"], p1["vcpus"], p1["ram_mb"]) == ("alpha", 2, 1, 5, 10240)
    assert (p1["volumes"], p1["volume_gb"]) == (2, 15)
    assert (got["p2"]["instances"], got["p2"]["vcpus"], got["p2"]["volume_gb"]) == (0, 0, 0)
    assert (got["orphan"]["project_name"], got["orphan"]["instances"], got["orphan"]["vcpus"]) == (None, 1, 2)


def test_views_are_dropped_by_downgrading_one_step(tmp_path: Path) -> None:
    from app.db.migrate import downgrade

    url = backend.new_database_url(tmp_path, "d.db", empty=True)
    upgrade(url)
    with backend.connect(url) as c:
        assert len(c.run_sync(lambda sc: inspect(sc).get_view_names())) == 5
    downgrade(url, "0001_initial")
    with backend.connect(url) as c:
        assert c.run_sync(lambda sc: inspect(sc).get_view_names()) == []
