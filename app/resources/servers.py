"""Nova servers: listed with ``/servers/detail?all_tenants=True`` at the highest microversion, polled
incrementally with ``changes-since`` between full reconciles. Endpoint paths are relative to the
compute adapter's (versioned) endpoint.

At microversion >= 2.47 the flavor is embedded (``original_name``, ``vcpus``, ``ram``, ``disk``) and has
no id; below it only ``flavor.id`` is given. Both are mapped (``flavor_id`` nullable), so reports work
on every release. ``adminPass`` and ``OS-EXT-SRV-ATTR:user_data`` never reach the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import as_bool, as_int, boolean, cloud_indexes, integer, items, lowered, text, ts
from app.resources.base import ChildSpec, Listing, ResourceSpec, dig, link_table, snapshot_table

POWER_STATES = {0: "NOSTATE", 1: "RUNNING", 3: "PAUSED", 4: "SHUTDOWN", 6: "CRASHED", 7: "SUSPENDED"}

FILTERABLE = (
    "name", "status", "task_state", "vm_state", "power_state", "host", "hypervisor_hostname",
    "availability_zone", "project_id", "user_id", "flavor_id", "flavor_name", "image_id", "key_name",
    "created_at", "updated_at", "launched_at",
)

table = snapshot_table(
    "servers",
    Column("name", String(255), doc="Server name."),
    Column("search_text", String(1024),
           doc="Lowercased 'name id ip...' for substring search (LIKE '%term%' with a lowercased term)."),
    Column("status", String(32), doc="Nova status: ACTIVE, BUILD, SHUTOFF, ERROR, DELETED, ..."),
    Column("task_state", String(64), doc="OS-EXT-STS:task_state (NULL when idle)."),
    Column("vm_state", String(32), doc="OS-EXT-STS:vm_state: active, stopped, error, ..."),
    Column("power_state", Integer, doc="OS-EXT-STS:power_state code (0 NOSTATE, 1 RUNNING, 3 PAUSED, 4 SHUTDOWN, 6 CRASHED, 7 SUSPENDED)."),
    Column("power_state_name", String(16), doc="power_state as a word (RUNNING, SHUTDOWN, ...)."),
    Column("host", String(255), doc="OS-EXT-SRV-ATTR:host: the nova-compute host (admin only)."),
    Column("hypervisor_hostname", String(255), doc="OS-EXT-SRV-ATTR:hypervisor_hostname (joins hypervisors)."),
    Column("instance_name", String(255), doc="OS-EXT-SRV-ATTR:instance_name (libvirt domain name)."),
    Column("availability_zone", String(255), doc="OS-EXT-AZ:availability_zone."),
    Column("project_id", String(64), doc="Owning project (tenant_id)."),
    Column("user_id", String(64), doc="User who created it."),
    Column("flavor_id", String(64), doc="Flavor id (only below compute microversion 2.47)."),
    Column("flavor_name", String(255), doc="Flavor name (flavor.original_name at 2.47+, else looked up by id)."),
    Column("flavor_vcpus", Integer, doc="vCPUs of the embedded flavor (2.47+)."),
    Column("flavor_ram_mb", Integer, doc="RAM MiB of the embedded flavor (2.47+)."),
    Column("flavor_disk_gb", Integer, doc="Root disk GiB of the embedded flavor (2.47+)."),
    Column("image_id", String(64), doc="Boot image (NULL when booted from volume)."),
    Column("key_name", String(255), doc="Keypair name injected at boot."),
    Column("host_id", String(64), doc="hostId: project-scoped hash of the host."),
    Column("locked", Boolean, doc="Locked against actions (2.9+)."),
    Column("created_at", DateTime, doc="created (UTC)."),
    Column("updated_at", DateTime, doc="updated (UTC)."),
    Column("launched_at", DateTime, doc="OS-SRV-USG:launched_at (UTC)."),
    Column("terminated_at", DateTime, doc="OS-SRV-USG:terminated_at (UTC)."),
    # name + id, status + name + id: instance pages (ordered by name, then id) and counts are index
    # range walks; flavor_name + flavor_id: servers per flavor name on 2.47+ (flavor_id NULL) counted
    # index-only.
    *cloud_indexes("servers", "search_text", *FILTERABLE,
                   then={"name": ("id",), "status": ("name", "id"), "flavor_name": ("flavor_id",)}),
    doc="Nova servers (instances), all projects.",
)

addresses = link_table(
    "server_addresses", "server",
    Column("network_name", String(255), doc="Network name (the key in the server's addresses)."),
    Column("ip_address", String(64), doc="IPv4/IPv6 address."),
    Column("ip_version", Integer, doc="4 or 6."),
    Column("ip_type", String(16), doc="OS-EXT-IPS:type: fixed or floating."),
    Column("mac_address", String(32), doc="OS-EXT-IPS-MAC:mac_addr."),
    *cloud_indexes("server_addresses", "ip_address", "network_name"),
    doc="One row per address of a server (from the server's addresses).",
)

server_volumes = link_table(
    "server_volumes", "server",
    Column("volume_id", String(64), doc="Attached Cinder volume id."),
    Column("delete_on_termination", Boolean, doc="Deleted with the server (2.3+)."),
    *cloud_indexes("server_volumes", "volume_id"),
    doc="Volumes attached to a server (os-extended-volumes:volumes_attached).",
)

server_security_groups = link_table(
    "server_security_groups", "server",
    Column("security_group_name", String(255), doc="Security group name as Nova reports it (names, not ids)."),
    *cloud_indexes("server_security_groups", "security_group_name"),
    doc="Security groups of a server, by name (Nova's view; ports carry the ids).",
)


def _address_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for net, addrs in (raw.get("addresses") or {}).items():
        for a in items(addrs):
            out.append({
                "network_name": net,
                "ip_address": a.get("addr"),
                "ip_version": as_int(a.get("version")),
                "ip_type": a.get("OS-EXT-IPS:type"),
                "mac_address": a.get("OS-EXT-IPS-MAC:mac_addr"),
            })
    return out


def _volume_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"volume_id": v.get("id"), "delete_on_termination": as_bool(v.get("delete_on_termination"))}
        for v in items(raw.get("os-extended-volumes:volumes_attached"))
    ]


def _sg_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    names = sorted({sg.get("name") for sg in items(raw.get("security_groups")) if sg.get("name")})
    return [{"security_group_name": n} for n in names]


def _ips(raw: dict[str, Any]) -> list[str]:
    return [a["ip_address"] for a in _address_rows(raw) if a["ip_address"]]


def _image_id(raw: dict[str, Any]) -> str | None:
    image = raw.get("image")
    return image.get("id") if isinstance(image, dict) else None


def _power_state_name(raw: dict[str, Any]) -> str | None:
    code = as_int(raw.get("OS-EXT-STS:power_state"))
    return None if code is None else POWER_STATES.get(code, str(code))


SPEC = ResourceSpec(
    kind="servers",
    table=table,
    description="Nova servers (instances) of every project",
    listing=Listing(service="compute", path="/servers/detail", collection="servers",
                    params={"all_tenants": "True"}, microversion="max"),
    get_path="/servers/{id}",
    get_key="server",
    columns={
        "name": "name",
        "search_text": lowered("name", "id", _ips),
        "status": "status",
        "task_state": "OS-EXT-STS:task_state",
        "vm_state": "OS-EXT-STS:vm_state",
        "power_state": integer("OS-EXT-STS:power_state"),
        "power_state_name": _power_state_name,
        "host": "OS-EXT-SRV-ATTR:host",
        "hypervisor_hostname": "OS-EXT-SRV-ATTR:hypervisor_hostname",
        "instance_name": "OS-EXT-SRV-ATTR:instance_name",
        "availability_zone": "OS-EXT-AZ:availability_zone",
        "project_id": "tenant_id",
        "user_id": "user_id",
        "flavor_id": text("flavor.id"),
        "flavor_name": "flavor.original_name",
        "flavor_vcpus": integer("flavor.vcpus"),
        "flavor_ram_mb": integer("flavor.ram"),
        "flavor_disk_gb": integer("flavor.disk"),
        "image_id": _image_id,
        "key_name": "key_name",
        "host_id": lambda r: dig(r, "hostId") or None,
        "locked": boolean("locked"),
        "created_at": ts("created"),
        "updated_at": ts("updated"),
        "launched_at": ts("OS-SRV-USG:launched_at"),
        "terminated_at": ts("OS-SRV-USG:terminated_at"),
    },
    children=(
        ChildSpec(addresses, _address_rows),
        ChildSpec(server_volumes, _volume_rows),
        ChildSpec(server_security_groups, _sg_rows),
    ),
    searchable=("name", "search_text"),
    filterable=FILTERABLE,
    poll_interval=30.0,
    admin_only=True,
    incremental=True,
    # Real Nova (2.16+) fills host_status ("UP", "DOWN", ...) in plain listings but leaves it "" in a
    # changes-since listing: every incremental sync would "change" every server it returns. Host
    # health comes from compute_services instead.
    unstable_keys=frozenset({"host_status"}),
    # Nova's changes-since listing reports a deleted server as an entry with status DELETED.
    gone=lambda raw: str(raw.get("status", "")).upper() == "DELETED",
)
