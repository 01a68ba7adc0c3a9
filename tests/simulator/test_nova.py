"""Nova simulator, driven through openstacksdk over HTTP."""

from __future__ import annotations

import base64
import time
from collections import Counter
from typing import Any

import openstack
import pytest
from openstack import exceptions

CAPACITY = {"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb",
            "free_disk_gb", "current_workload", "running_vms", "disk_available_least"}


def wait(sim: Any) -> None:
    """Let the pending transitions happen: the test froze the simulator's clock, so an in-between state
    (REBOOT, creating, extending ...) holds until this moves it, however loaded the machine is."""
    sim.advance(sim.transition_seconds + 0.01)


def active_server(conn: Any) -> Any:
    return next(s for s in conn.compute.servers(details=True, all_projects=True, status="ACTIVE")
                if not s.is_locked)


def test_version_document_and_microversion_negotiation(sim: Any, conn: Any) -> None:
    data = conn.compute.get_endpoint_data()
    assert data.max_microversion.as_string() if hasattr(data.max_microversion, "as_string") else True
    r = conn.compute.get("/servers", microversion="2.100")
    assert r.headers["OpenStack-API-Version"] == "compute 2.100"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.100"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    r = conn.compute.get("/servers", headers={"OpenStack-API-Version": "compute 2.101"}, raise_exc=False)
    assert r.status_code == 406 and "maximum is 2.100" in r.json()["computeFault"]["message"]
    r = conn.compute.get("/servers", headers={"OpenStack-API-Version": "compute latest"})
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.100"


def test_servers_detail_counts_mix_and_fields(sim: Any, conn: Any) -> None:
    servers = list(conn.compute.servers(details=True, all_projects=True))
    assert len(servers) == sim.state.count("servers") == 60
    statuses = Counter(s.status for s in servers)
    assert statuses["ACTIVE"] > 40
    raw = conn.compute.get("/servers/detail?all_tenants=1", microversion="2.100").json()["servers"]
    s = raw[0]
    for key in ("OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name",
                "OS-EXT-SRV-ATTR:user_data", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
                "OS-EXT-AZ:availability_zone", "os-extended-volumes:volumes_attached", "addresses", "flavor",
                "key_name", "metadata", "tags", "locked", "created", "updated", "hostId", "tenant_id", "user_id",
                "config_drive", "accessIPv4", "accessIPv6", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
                "scheduler_hints", "pinned_availability_zone", "locked_reason", "host_status"):
        assert key in s, key
    assert set(s["flavor"]) == {"vcpus", "ram", "disk", "ephemeral", "swap", "original_name", "extra_specs"}
    assert [x["created"] for x in raw] == sorted((x["created"] for x in raw), reverse=True)
    with_ud = [x for x in raw if x["OS-EXT-SRV-ATTR:user_data"]]
    assert with_ud and "chpasswd" in base64.b64decode(with_ud[0]["OS-EXT-SRV-ATTR:user_data"]).decode()
    active = next(x for x in raw if x["status"] == "ACTIVE")
    assert active["addresses"] and active["security_groups"] == [{"name": "default"}]
    # an old microversion: flavor is a link, no tags/locked
    old = conn.compute.get("/servers/detail?all_tenants=1&limit=1", microversion="2.1").json()["servers"][0]
    assert set(old["flavor"]) == {"id", "links"} and "tags" not in old and "locked" not in old
    assert "OS-EXT-SRV-ATTR:user_data" not in old


def test_pagination_with_small_limit_tiles_everything(sim: Any, conn: Any) -> None:
    ids = [s.id for s in conn.compute.servers(details=False, all_projects=True, limit=7)]
    assert len(ids) == len(set(ids)) == sim.state.count("servers")
    page = conn.compute.get("/servers?all_tenants=1&limit=7").json()
    assert len(page["servers"]) == 7 and page["servers_links"][0]["rel"] == "next"
    r = conn.compute.get("/servers?marker=nope", raise_exc=False)
    assert r.status_code == 400 and "marker [nope] not found" in r.json()["badRequest"]["message"]


def test_pages_after_the_first_reuse_its_selection_until_something_changes(sim: Any, conn: Any) -> None:
    """Pages that follow a first page are cut from the selection it made (no fleet scan per page), yet a
    write, or a lazy transition that falls due, between two pages shows on the next one, as in Nova."""
    sim.freeze()

    def rest(href: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while href:
            page = conn.compute.get(href).json()
            out += page["servers"]
            href = (page.get("servers_links") or [{}])[0].get("href")
        return out

    order = [x["id"] for x in conn.compute.get("/servers?all_tenants=1").json()["servers"]]
    active = [i for i in order if sim.state.get("servers", i)["status"] == "ACTIVE"]
    for sid in active[:2]:
        conn.compute.stop_server(sid)  # two SHUTOFF servers listed first: the status listing has a page 2
    sim.advance(1)
    conn.compute.stop_server(active[-1])  # pending: SHUTOFF once the transition falls due
    shut = conn.compute.get("/servers/detail?all_tenants=1&status=SHUTOFF&limit=1").json()
    assert active[-1] not in {x["id"] for x in shut["servers"]}
    sim.advance(1)  # the transition falls due between pages, with no request in between
    assert active[-1] in {x["id"] for x in rest(shut["servers_links"][0]["href"])}

    conn.compute.stop_server(active[-2])
    first = conn.compute.get("/servers/detail?all_tenants=1&limit=5").json()
    sim.advance(1)
    listed = first["servers"] + rest(first["servers_links"][0]["href"])
    assert len({x["id"] for x in listed}) == len(listed) == sim.state.count("servers")
    assert {x["id"]: x["status"] for x in listed}[active[-2]] == "SHUTOFF"
    # and a write between pages: the deleted server is gone from the next pages
    first = conn.compute.get("/servers?all_tenants=1&limit=5").json()
    conn.compute.delete_server(order[-1])
    sim.advance(5)
    assert order[-1] not in {x["id"] for x in rest(first["servers_links"][0]["href"])}


def test_filters(sim: Any, conn: Any) -> None:
    allsrv = list(conn.compute.servers(details=True, all_projects=True))
    err = list(conn.compute.servers(details=True, all_projects=True, status="ERROR"))
    assert {s.status for s in err} <= {"ERROR"} and len(err) == sum(s.status == "ERROR" for s in allsrv)
    host = next(s.compute_host for s in allsrv if s.compute_host)
    on_host = list(conn.compute.servers(details=True, all_projects=True, compute_host=host))
    assert on_host and all(s.compute_host == host for s in on_host)
    named = list(conn.compute.servers(all_projects=True, name="-0000[1-3]$"))
    assert sorted(s.name[-5:] for s in named) == ["00001", "00002", "00003"]
    project = allsrv[0].project_id
    mine = list(conn.compute.servers(details=True, all_projects=True, project_id=project))
    assert mine and all(s.project_id == project for s in mine)
    own = list(conn.compute.servers(details=True))  # no all_tenants: the token's project only
    admin_project = conn.current_project_id
    assert all(s.project_id == admin_project for s in own)
    flavor = allsrv[0].flavor.original_name
    fl = conn.compute.find_flavor(flavor)
    assert all(s.flavor.original_name == flavor for s in conn.compute.servers(details=True, all_projects=True,
                                                                                flavor=fl.id))


def test_stop_start_and_conflict(sim: Any, conn: Any) -> None:
    sim.freeze()
    server = active_server(conn)
    conn.compute.stop_server(server)
    s = conn.compute.get_server(server.id)
    assert s.status == "ACTIVE" and s.task_state == "powering-off"
    wait(sim)
    s = conn.compute.get_server(server.id)
    assert (s.status, s.vm_state, s.task_state, s.power_state) == ("SHUTOFF", "stopped", None, 4)
    with pytest.raises(exceptions.ConflictException) as ei:
        conn.compute.stop_server(server)
    assert f"Cannot 'stop' instance {server.id} while it is in vm_state stopped" in str(ei.value)
    conn.compute.start_server(server)
    assert conn.compute.get_server(server.id).task_state == "powering-on"
    wait(sim)
    s = conn.compute.get_server(server.id)
    assert (s.status, s.power_state) == ("ACTIVE", 1)


def test_reboot_pause_suspend_cycle(sim: Any, conn: Any) -> None:
    sim.freeze()
    server = active_server(conn)
    conn.compute.reboot_server(server, "SOFT")
    s = conn.compute.get_server(server.id)
    assert (s.status, s.task_state) == ("REBOOT", "rebooting")
    with pytest.raises(exceptions.ConflictException):
        conn.compute.reboot_server(server, "SOFT")  # task_state rebooting
    conn.compute.reboot_server(server, "HARD")  # hard reboot is allowed over a soft one
    s = conn.compute.get_server(server.id)
    assert (s.status, s.task_state) == ("HARD_REBOOT", "rebooting_hard")
    wait(sim)
    assert conn.compute.get_server(server.id).status == "ACTIVE"
    for action, status, power, undo in (("pause", "PAUSED", 3, "unpause"), ("suspend", "SUSPENDED", 7, "resume")):
        getattr(conn.compute, f"{action}_server")(server)
        wait(sim)
        s = conn.compute.get_server(server.id)
        assert (s.status, s.power_state) == (status, power)
        with pytest.raises(exceptions.ConflictException):
            conn.compute.stop_server(server) if action == "pause" else conn.compute.pause_server(server)
        getattr(conn.compute, f"{undo}_server")(server)
        wait(sim)
        assert conn.compute.get_server(server.id).status == "ACTIVE"


def test_create_build_active_delete_and_changes_since(sim: Any, conn: Any) -> None:
    flavor = conn.compute.find_flavor("m1.small")
    image = next(iter(conn.image.images()))
    network = next(n for n in conn.network.networks() if n.name != "public" and not n.is_router_external)
    before = time.time()
    server = conn.compute.create_server(name="web-new-1", flavor_id=flavor.id, image_id=image.id,
                                        networks=[{"uuid": network.id}], key_name=None)
    assert server.admin_password and len(server.admin_password) == 12
    s = conn.compute.get_server(server.id)
    assert s.status == "BUILD" and s.addresses == {}
    s = conn.compute.wait_for_server(s, status="ACTIVE", interval=0.1, wait=10)
    assert s.compute_host and network.name in s.addresses and s.launched_at
    assert conn.compute.get_server(server.id).admin_password is None  # returned once only
    conn.compute.delete_server(server)
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - 1))
    changed = list(conn.compute.servers(details=True, all_projects=True, changes_since=since))
    gone = [c for c in changed if c.id == server.id]
    assert gone and gone[0].status == "DELETED" and gone[0].vm_state == "deleted"
    assert server.id not in {x.id for x in conn.compute.servers(all_projects=True)}


def test_not_found_error_body(sim: Any, conn: Any) -> None:
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
    r = conn.compute.get("/servers/nope", raise_exc=False)
    assert r.json() == {"itemNotFound": {"code": 404, "message": "Instance nope could not be found."}}


@pytest.mark.parametrize("release,capacity", [("train", True), ("wallaby", False), ("yoga", False),
                                              ("epoxy", False)])
def test_hypervisor_fields_per_release(make_sim: Any, release: str, capacity: bool) -> None:
    sim = make_sim(release=release, servers=120)
    conn = openstack.connect(**sim.connect_kwargs())
    hyps = list(conn.compute.hypervisors(details=True))
    assert len(hyps) == sim.state.count("hypervisors") == 3
    raw = conn.compute.get("/os-hypervisors/detail", microversion="latest" if release == "train" else "2.88")
    h = raw.json()["hypervisors"][0]
    assert CAPACITY <= set(h) if capacity else not CAPACITY & set(h)
    assert ("uptime" in h) == (not capacity) and ("cpu_info" in h) == capacity
    assert len(h["id"]) == 36 and set(h["service"]) == {"id", "host", "disabled_reason"}
    stats = conn.compute.get("/os-hypervisors/statistics", microversion="2.79" if capacity else "2.87")
    stats = stats.json()["hypervisor_statistics"]
    assert stats["count"] == 3 and stats["running_vms"] > 0
    if not capacity:
        r = conn.compute.get("/os-hypervisors/statistics", microversion="2.88", raise_exc=False)
        assert r.status_code == 404
        full = max(conn.compute.get("/os-hypervisors/detail", microversion="2.87").json()["hypervisors"],
                   key=lambda x: x["memory_mb_used"] / x["memory_mb"])
        assert full["memory_mb_used"] / full["memory_mb"] > 0.9
    old = conn.compute.get("/os-hypervisors/detail", microversion="2.1").json()["hypervisors"][0]
    assert isinstance(old["id"], int) and isinstance(old["cpu_info"], str)
    ws = conn.compute.get("/os-hypervisors/detail?with_servers=true", microversion="2.75").json()["hypervisors"]
    assert sum(len(x["servers"]) for x in ws) > 0
    conn.close()


def test_services_azs_flavors(sim: Any, conn: Any) -> None:
    services = list(conn.compute.services())
    computes = [s for s in services if s.binary == "nova-compute"]
    assert len(computes) == sim.state.count("hypervisors")
    assert any(s.state == "down" for s in computes)
    disabled = [s for s in computes if s.status == "disabled"]
    assert disabled and disabled[0].disabled_reason
    assert {s.binary for s in services} >= {"nova-scheduler", "nova-conductor"}
    azs = list(conn.compute.availability_zones())
    assert 2 <= len(azs) <= 3 and any(az.state["available"] for az in azs)
    detail = conn.compute.get("/os-availability-zone/detail").json()["availabilityZoneInfo"]
    assert any(z["zoneName"] == "internal" for z in detail)
    flavors = list(conn.compute.flavors(details=True))
    assert 8 <= len(flavors) <= 10
    pinned = next(f for f in flavors if f.name == "c1.xlarge")
    assert pinned.extra_specs["hw:cpu_policy"] == "dedicated"
    assert conn.compute.fetch_flavor_extra_specs(pinned).extra_specs["hw:cpu_policy"] == "dedicated"
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_flavor("nope")


def test_keypairs_private_key_once(sim: Any, conn: Any) -> None:
    before = {k.name for k in conn.compute.keypairs()}
    assert before
    kp = conn.compute.create_keypair(name="ops-key")
    assert kp.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    again = conn.compute.get_keypair("ops-key")
    assert again.private_key is None and again.fingerprint == kp.fingerprint and again.type == "ssh"
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_keypair(name="ops-key")
    conn.compute.delete_keypair("ops-key")
    assert {k.name for k in conn.compute.keypairs()} == before
    other = next(u for u in sim.state.values("users") if u["name"] != "admin")
    theirs = {k["name"] for k in sim.state.values("keypairs") if k["user_id"] == other["id"]}
    assert {k.name for k in conn.compute.keypairs(user_id=other["id"])} == theirs


def test_interfaces_and_volume_attachments(sim: Any, conn: Any) -> None:
    server = active_server(conn)
    ifaces = list(conn.compute.server_interfaces(server))
    assert ifaces and ifaces[0].fixed_ips[0]["ip_address"] and ifaces[0].mac_addr
    attached = next((s for s in conn.compute.servers(details=True, all_projects=True) if s.attached_volumes), None)
    if attached is not None:
        vas = list(conn.compute.volume_attachments(attached))
        assert {v.volume_id for v in vas} == {v["id"] for v in attached.attached_volumes}
