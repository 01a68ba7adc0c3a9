"""Fixtures for the integration suite against the real upstream services of ../shared/real-openstack.

* ``real_cloud`` (session): makes sure Keystone answers on 127.0.0.1:5000. If nothing answers it runs
  ``../shared/real-openstack/start-openstack.sh`` (with ``OS_NOVA_REAL_DEPS=1``) and stops the services
  at the end; services it did not start (another engineer's) are used as they are and never stopped.
* ``fleet`` (session): a small, varied fleet created through openstacksdk, named ``mcpit-*`` and reused
  by name, so reruns are idempotent and never touch anybody else's resources.
* ``synced`` (session): every kind synced once into a fresh migrated SQLite file, with what
  openstacksdk lists before and after the sync (the comparison baseline).

Run with ``python -m pytest -m real_openstack``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings, load_settings
from app.context import open_app_context

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "real-openstack"
START_SCRIPT = SHARED / "start-openstack.sh"

AUTH: dict[str, str] = {
    "auth_url": "http://127.0.0.1:5000/v3",
    "username": "admin",
    "password": "password",
    "project_name": "admin",
    "user_domain_name": "Default",
    "project_domain_name": "Default",
    "region_name": "RegionOne",
}
KEYSTONE = ("127.0.0.1", 5000)
START_TIMEOUT = 900  # venv build (~45-155 s) + start (~40 s), generous for a cold CI machine
PREFIX = "mcpit-"
# Kinds the real cloud cannot serve and the status their sync must record (everything else: succeeded).
# Placement is not exposed over HTTP here (no catalog entry): unavailable, with a reason.
# No Octavia runs here either: the load-balancer kinds have no catalog entry (unavailable, not failed).
EXPECTED_STATUS: dict[str, str] = {"resource_providers": "unavailable", **dict.fromkeys(
    ("load_balancers", "lb_listeners", "lb_pools", "lb_health_monitors", "lb_amphorae"), "unavailable")}


def keystone_answers(timeout: float = 2.0) -> bool:
    """True if something serves Keystone's v3 document on 127.0.0.1:5000."""
    try:
        with socket.create_connection(KEYSTONE, timeout=timeout):
            pass
    except OSError:
        return False
    try:
        with urllib.request.urlopen(AUTH["auth_url"], timeout=timeout) as resp:
            return resp.status == 200
    except Exception:
        return False


SERVICE_PORTS = {"glance": 9292, "neutron": 9696, "nova": 8774, "cinder": 8776, "heat": 8004}


def ports_in_use() -> list[str]:
    """Services of the set that answer although Keystone does not (somebody's partial start)."""
    busy = []
    for name, port in SERVICE_PORTS.items():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                busy.append(f"{name}:{port}")
        except OSError:
            pass
    return busy


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OS_NOVA_REAL_DEPS": "1"}
    return subprocess.run(["bash", str(START_SCRIPT), *args], cwd=SHARED, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def real_cloud() -> Iterator[dict[str, str]]:
    """Keystone on 127.0.0.1:5000: started here (and stopped at the end) only if nothing answers."""
    started = False
    if not keystone_answers():
        if not START_SCRIPT.is_file():
            pytest.fail(
                f"real OpenStack is not running on 127.0.0.1:5000 and {START_SCRIPT} does not exist: the "
                f"integration suite needs the shared directory beside the repository ({SHARED.parent})",
                pytrace=False)
        busy = ports_in_use()
        if busy:  # start-openstack.sh would first stop whatever its state dir lists: not ours to stop
            pytest.fail(f"Keystone does not answer on 127.0.0.1:5000 but {', '.join(busy)} do: somebody else's "
                        "services are half up; not starting (nor stopping) anything", pytrace=False)
        t0 = time.monotonic()
        proc = _run_script("start", timeout=START_TIMEOUT)
        started = True
        if proc.returncode != 0 or not keystone_answers(timeout=10):
            _run_script("stop", timeout=120)
            pytest.fail(f"start-openstack.sh failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}", pytrace=False)
        print(f"\n[real-openstack] started in {time.monotonic() - t0:.0f}s")
    try:
        yield AUTH
    finally:
        if started:  # never stop services somebody else started
            _run_script("stop", timeout=120)


@pytest.fixture(scope="session")
def conn(real_cloud: dict[str, str]) -> Iterator[Any]:
    import openstack

    c = openstack.connect(**real_cloud)
    yield c
    c.close()


# ------------------------------------------------------------------------------------------------
# Fleet


def wait_for(get: Callable[[], Any], ok: Callable[[Any], bool], *, timeout: float = 120, what: str = "") -> Any:
    end = time.monotonic() + timeout
    obj = None
    while time.monotonic() < end:
        obj = get()
        if ok(obj):
            return obj
        time.sleep(0.3)
    raise TimeoutError(f"timeout waiting for {what}: {obj!r:.300}")


def server_status(c: Any, sid: str, want: str, what: str) -> Any:
    return wait_for(lambda: c.compute.get_server(sid), lambda s: s.status == want, what=f"{what} {want}")


@dataclass
class Fleet:
    image: str
    flavor: str
    ext_net: str
    net: str
    subnet: str
    router: str
    sg: str
    servers: dict[str, str]  # role -> id: active, shutoff, paused, doomed, stopme
    volume_attached: str
    volume: str
    snapshot: str
    fip_associated: str
    fip_free: str
    stack: str
    project: str
    user: str
    keypair: str
    # values that must never reach the database
    secrets: dict[str, str] = field(default_factory=dict)


USER_DATA_MARKER = "mcpit-user-data-6d1f0b9e"


def _ensure_server(c: Any, name: str, f: dict[str, Any], secrets: dict[str, str]) -> Any:
    s = c.compute.find_server(name)
    if s is None:  # one at a time: Neutron on SQLite fails concurrent port creation
        s = c.compute.create_server(
            name=name, flavor_id=f["flavor"], image_id=f["image"], networks=[{"uuid": f["net"]}],
            key_name=f"{PREFIX}kp", security_groups=[{"name": f"{PREFIX}sg"}], metadata={"suite": "mcpit"},
            user_data=base64.b64encode(f"#!/bin/sh\necho {USER_DATA_MARKER}\n".encode()).decode())
        if s.admin_password:
            secrets[f"adminPass {name}"] = s.admin_password
        s = c.compute.wait_for_server(s, interval=0.3, wait=120)
    return c.compute.get_server(s.id)


def ensure_fleet(c: Any) -> Fleet:  # noqa: C901 - one linear recipe
    f: dict[str, Any] = {}
    secrets: dict[str, str] = {}

    img = c.image.find_image(f"{PREFIX}img")
    if img is None:
        img = c.image.create_image(name=f"{PREFIX}img", disk_format="raw", container_format="bare",
                                   data=b"\0" * 65536, os_distro="cirros")
    f["image"] = img.id
    flv = c.compute.find_flavor(f"{PREFIX}small")
    if flv is None:
        flv = c.compute.create_flavor(name=f"{PREFIX}small", vcpus=1, ram=256, disk=1)
    f["flavor"] = flv.id

    if c.compute.find_keypair(f"{PREFIX}kp") is None:
        c.compute.post("/os-keypairs", microversion="2.91", json={"keypair": {"name": f"{PREFIX}kp"}})
    # a generated keypair every run: its private key is known and must not be stored anywhere
    if c.compute.find_keypair(f"{PREFIX}kp-gen") is not None:
        c.compute.delete_keypair(f"{PREFIX}kp-gen")
    r = c.compute.post("/os-keypairs", microversion="2.91", json={"keypair": {"name": f"{PREFIX}kp-gen"}})
    r.raise_for_status()
    pk = r.json()["keypair"]["private_key"]
    # the key body (one base64 line of it is enough: SQLite stores JSON text, newlines escaped)
    secrets["private_key"] = max(pk.splitlines(), key=len)

    # networks: a vxlan external network (a flat one on physnet "public" may already be taken)
    ext = c.network.find_network(f"{PREFIX}public")
    if ext is None:
        ext = c.network.create_network(name=f"{PREFIX}public", is_router_external=True,
                                       provider_network_type="vxlan")
        c.network.create_subnet(network_id=ext.id, name=f"{PREFIX}public-v4", cidr="198.51.100.0/24", ip_version=4)
    f["ext_net"] = ext.id
    net = c.network.find_network(f"{PREFIX}private")
    if net is None:
        net = c.network.create_network(name=f"{PREFIX}private")
    f["net"] = net.id
    sub = c.network.find_subnet(f"{PREFIX}private-v4")
    if sub is None:
        sub = c.network.create_subnet(network_id=net.id, name=f"{PREFIX}private-v4", cidr="10.20.0.0/24",
                                      ip_version=4)
    f["subnet"] = sub.id
    rtr = c.network.find_router(f"{PREFIX}router")
    if rtr is None:
        rtr = c.network.create_router(name=f"{PREFIX}router", external_gateway_info={"network_id": ext.id})
    if not list(c.network.ports(device_id=rtr.id, network_id=net.id)):
        c.network.add_interface_to_router(rtr, subnet_id=sub.id)
    f["router"] = rtr.id
    sg = c.network.find_security_group(f"{PREFIX}sg")
    if sg is None:
        sg = c.network.create_security_group(name=f"{PREFIX}sg", description="integration suite")
        c.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                                             protocol="tcp", port_range_min=22, port_range_max=22,
                                             remote_ip_prefix="0.0.0.0/0")
        c.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                                             protocol="icmp", remote_ip_prefix="192.0.2.0/24")
    f["sg"] = sg.id

    servers: dict[str, str] = {}
    for role in ("active", "shutoff", "paused", "stopme", "doomed"):
        s = _ensure_server(c, f"{PREFIX}vm-{role}", f, secrets)
        want = {"shutoff": "SHUTOFF", "paused": "PAUSED"}.get(role, "ACTIVE")
        if s.status != want:
            if want == "SHUTOFF":
                c.compute.stop_server(s)
            elif want == "PAUSED":
                if s.status == "SHUTOFF":
                    c.compute.start_server(s)
                    server_status(c, s.id, "ACTIVE", s.name)
                c.compute.pause_server(s)
            elif s.status == "SHUTOFF":
                c.compute.start_server(s)
            elif s.status == "PAUSED":
                c.compute.unpause_server(s)
            server_status(c, s.id, want, s.name)
        servers[role] = s.id

    # volumes: Nova keeps its in-process Cinder fixture for attachments, so attach on both sides
    # (Nova: the server's volumes_attached; Cinder's attachments API: the volume's attachments)
    vol = c.block_storage.find_volume(f"{PREFIX}vol-attached")
    if vol is None:
        vol = c.block_storage.create_volume(size=1, name=f"{PREFIX}vol-attached")
        vol = wait_for(lambda: c.block_storage.get_volume(vol.id), lambda v: v.status == "available", what="volume")
    if not any(a.volume_id == vol.id for a in c.compute.volume_attachments(servers["active"])):
        c.compute.create_volume_attachment(servers["active"], volume_id=vol.id)
    if c.block_storage.get_volume(vol.id).status == "available":
        connector = {"host": "compute1", "initiator": "iqn.2026-01.org.example:compute1", "ip": "127.0.0.1",
                     "platform": "x86_64", "os_type": "linux", "multipath": False, "mountpoint": "/dev/vdb"}
        att = c.block_storage.post("/attachments", microversion="3.54", json={"attachment": {
            "instance_uuid": servers["active"], "volume_uuid": vol.id, "connector": connector, "mode": "rw"}})
        att.raise_for_status()
        aid = att.json()["attachment"]["id"]
        c.block_storage.post(f"/attachments/{aid}/action", json={"os-complete": None}, microversion="3.44")
        wait_for(lambda: c.block_storage.get_volume(vol.id), lambda v: v.status == "in-use", what="attach")
    f["volume_attached"] = vol.id
    vol2 = c.block_storage.find_volume(f"{PREFIX}vol")
    if vol2 is None:
        vol2 = c.block_storage.create_volume(size=2, name=f"{PREFIX}vol")
        vol2 = wait_for(lambda: c.block_storage.get_volume(vol2.id), lambda v: v.status == "available", what="vol")
    f["volume"] = vol2.id
    snap = c.block_storage.find_snapshot(f"{PREFIX}snap")
    if snap is None:
        snap = c.block_storage.create_snapshot(volume_id=vol2.id, name=f"{PREFIX}snap")
        wait_for(lambda: c.block_storage.get_snapshot(snap.id), lambda x: x.status == "available", what="snapshot")
    f["snapshot"] = snap.id

    fips = {x.description: x for x in c.network.ips(floating_network_id=ext.id)}
    if f"{PREFIX}assoc" not in fips:
        port = next(iter(c.network.ports(device_id=servers["active"])))
        fips[f"{PREFIX}assoc"] = c.network.create_ip(floating_network_id=ext.id, port_id=port.id,
                                                     description=f"{PREFIX}assoc")
    if f"{PREFIX}free" not in fips:
        fips[f"{PREFIX}free"] = c.network.create_ip(floating_network_id=ext.id, description=f"{PREFIX}free")
    f["fip_associated"], f["fip_free"] = fips[f"{PREFIX}assoc"].id, fips[f"{PREFIX}free"].id
    # Neutron tells Nova (network-changed); Nova's info cache then shows the floating address
    fip_addr = fips[f"{PREFIX}assoc"].floating_ip_address
    wait_for(lambda: c.compute.get_server(servers["active"]),
             lambda s: any(a["addr"] == fip_addr for v in (s.addresses or {}).values() for a in v),
             timeout=30, what="floating ip in server addresses")

    stack = c.orchestration.find_stack(f"{PREFIX}stack")
    if stack is None:
        tmpl = {"heat_template_version": "2018-08-31", "description": "integration suite",
                "resources": {"rand": {"type": "OS::Heat::RandomString", "properties": {"length": 8}}},
                "outputs": {"value": {"value": {"get_attr": ["rand", "value"]}}}}
        stack = c.orchestration.create_stack(name=f"{PREFIX}stack", template=tmpl)
        stack = c.orchestration.wait_for_status(stack, status="CREATE_COMPLETE", failures=["CREATE_FAILED"],
                                                interval=0.3, wait=90)
    f["stack"] = stack.id

    proj = c.identity.find_project(f"{PREFIX}project", domain_id="default")
    if proj is None:
        proj = c.identity.create_project(name=f"{PREFIX}project", domain_id="default", description="suite")
    password = f"mcpit-pw-{uuid.uuid4().hex}"
    email = f"mcpit-{uuid.uuid4().hex[:8]}@example.org"
    user = c.identity.find_user(f"{PREFIX}user", domain_id="default")
    if user is None:
        user = c.identity.create_user(name=f"{PREFIX}user", domain_id="default", password=password,
                                      default_project_id=proj.id, email=email)
    else:
        user = c.identity.update_user(user, password=password, email=email)
    secrets["user password"], secrets["user email"] = password, email
    c.identity.assign_project_role_to_user(proj, user, c.identity.find_role("member"))
    f["project"], f["user"] = proj.id, user.id

    return Fleet(servers=servers, keypair=f"{PREFIX}kp", secrets=secrets, **f)


@pytest.fixture(scope="session")
def fleet(conn: Any) -> Fleet:
    t0 = time.monotonic()
    fl = ensure_fleet(conn)
    print(f"\n[real-openstack] fleet ready in {time.monotonic() - t0:.0f}s")
    return fl


# ------------------------------------------------------------------------------------------------
# SDK listings (the comparison baseline) and the sync


def _ra_key(a: Any) -> tuple[Any, ...]:
    actor = (a.user or {}).get("id") or (a.group or {}).get("id")
    scope = a.scope or {}
    target = (scope.get("project") or {}).get("id") or (scope.get("domain") or {}).get("id") or \
        ("system" if scope.get("system") else None)
    return ((a.role or {}).get("id"), actor, target)


def sdk_ids(c: Any) -> dict[str, set[Any]]:
    """What openstacksdk lists per kind, as comparable keys (ids, or natural keys where the snapshot
    derives its id)."""
    return {
        "projects": {p.id for p in c.identity.projects()},
        "users": {u.id for u in c.identity.users()},
        "role_assignments": {_ra_key(a) for a in c.identity.role_assignments(include_names=True)},
        "availability_zones": {z.name for z in c.compute.availability_zones(details=True)},
        "flavors": {x.id for x in c.compute.flavors(details=True, is_public=None)},
        "compute_services": {s.id for s in c.compute.services()},
        "hypervisors": {h.id for h in c.compute.hypervisors(details=True)},
        "keypairs": {k.name for k in c.compute.keypairs()},
        "images": {i.id for i in c.image.images(visibility="all")},
        "networks": {n.id for n in c.network.networks()},
        "subnets": {s.id for s in c.network.subnets()},
        "security_groups": {s.id for s in c.network.security_groups()},
        "routers": {r.id for r in c.network.routers()},
        "ports": {p.id for p in c.network.ports()},
        "floating_ips": {f.id for f in c.network.ips()},
        "network_agents": {a.id for a in c.network.agents()},
        "volume_types": {t.id for t in c.block_storage.types()},
        "volume_services": {(s.binary, s.host) for s in c.block_storage.services()},
        "volumes": {v.id for v in c.block_storage.volumes(all_projects=True)},
        "volume_snapshots": {s.id for s in c.block_storage.snapshots(all_projects=True)},
        "servers": {s.id for s in c.compute.servers(all_projects=True)},
        "stacks": {s.id for s in c.orchestration.stacks()},
        "project_quotas": {p.id for p in c.identity.projects()},
    }


def db_keys_sql(kind: str) -> str:
    """SQL giving the same comparable keys from the snapshot's live rows."""
    return {
        "role_assignments": "SELECT role_id, coalesce(user_id, group_id), "
                            "coalesce(project_id, domain_id, CASE WHEN scope_type='system' THEN 'system' END) "
                            "FROM role_assignments WHERE deleted_at IS NULL",
        "availability_zones": "SELECT name FROM availability_zones WHERE deleted_at IS NULL",
        "keypairs": "SELECT name FROM keypairs WHERE deleted_at IS NULL",
        "volume_services": "SELECT binary, host FROM volume_services WHERE deleted_at IS NULL",
    }.get(kind, f"SELECT id FROM {kind} WHERE deleted_at IS NULL")


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    return load_settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{db_path}", cloud_name="real",
                         poller_enabled=False, **overrides)


@dataclass
class Synced:
    settings: Settings
    db_path: Path
    results: dict[str, Any]
    before: dict[str, set[Any]]
    after: dict[str, set[Any]]
    token: str | None
    seconds: float

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return query(self.db_path, sql, *params)


def query(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as db:
        return list(db.execute(sql, params).fetchall())


def copy_db(src: Path, dst: Path) -> Path:
    """A consistent copy of a snapshot file (WAL included) through SQLite's backup API."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


async def run_sync(settings: Settings, kinds: list[str] | None = None) -> tuple[dict[str, Any], str | None]:
    async with open_app_context(settings, **AUTH) as ctx:
        results = await ctx.sync.sync_all(kinds)
        token = ctx.cloud.conn.auth_token
    return results, token


@pytest.fixture(scope="session")
def synced(conn: Any, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Synced:
    """Every kind synced once into a fresh migrated SQLite file (Placement separately: see
    test_real_openstack.test_placement_unavailable)."""
    from app.resources.registry import all_specs

    db_path = tmp_path_factory.mktemp("real") / "snapshot.db"
    settings = make_settings(db_path)
    kinds = [k for k in all_specs() if k != "resource_providers"]
    before = sdk_ids(conn)
    t0 = time.monotonic()
    results, token = asyncio.run(run_sync(settings, kinds))
    seconds = time.monotonic() - t0
    after = sdk_ids(conn)
    return Synced(settings=settings, db_path=db_path, results=results, before=before, after=after, token=token,
                  seconds=seconds)
