"""Neutron ports, with their fixed IPs and their router-interface role as link tables.

**router_interfaces comes from ports**: a router's interfaces are exactly the ports whose
``device_owner`` starts with ``network:router_interface`` (``..._distributed`` for DVR) or is
``network:ha_router_replicated_interface``, with ``device_id`` = the router. The routers API does not
list interfaces, so deriving them from the one ports listing costs no extra request and stays exact:
the rows are replaced when the port changes and go when it is tombstoned. The gateway port
(``network:router_gateway``) is not an interface; routers.external_* columns describe it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, items, lowered, text, ts
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table

INTERFACE_OWNERS = ("network:router_interface", "network:ha_router_replicated_interface")
FILTERABLE = ("name", "network_id", "device_id", "device_owner", "status", "project_id", "mac_address", "host")

table = snapshot_table(
    "ports",
    Column("name", String(255), doc="Port name (often empty)."),
    Column("search_text", String(1024), doc="Lowercased 'name id mac ip...' for substring search."),
    Column("network_id", String(64), doc="Network (joins networks.id)."),
    Column("mac_address", String(32), doc="MAC address."),
    Column("device_id", String(255), doc="Owning device: server id, router id, DHCP agent id ..."),
    Column("device_owner", String(255), doc="compute:<az>, network:router_interface, network:dhcp, ..."),
    Column("status", String(16), doc="ACTIVE, DOWN, BUILD."),
    Column("admin_state_up", Boolean, doc="Administrative state."),
    Column("host", String(255), doc="binding:host_id (admin only)."),
    Column("vnic_type", String(32), doc="binding:vnic_type: normal, direct, ..."),
    Column("vif_type", String(32), doc="binding:vif_type: ovs, binding_failed, unbound, ..."),
    Column("port_security_enabled", Boolean, doc="Port security (anti-spoofing, security groups)."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("ports", "search_text", *FILTERABLE),
    doc="Neutron ports. Security group ids in raw.security_groups.",
)

fixed_ips = link_table(
    "port_fixed_ips", "port",
    Column("subnet_id", String(64), doc="Subnet of the address."),
    Column("ip_address", String(64), doc="Fixed IP address."),
    *cloud_indexes("port_fixed_ips", "ip_address", "subnet_id"),
    doc="Fixed IPs of a port (port.fixed_ips).",
)

router_interfaces = link_table(
    "router_interfaces", "port",
    Column("router_id", String(64), doc="The router (ports.device_id)."),
    Column("network_id", String(64), doc="Network the interface is on."),
    Column("subnet_id", String(64), doc="Subnet the interface is on."),
    Column("ip_address", String(64), doc="The router's address on that subnet."),
    Column("interface_type", String(64), doc="The port's device_owner (router_interface, ..._distributed, HA)."),
    *cloud_indexes("router_interfaces", "router_id", "subnet_id", "network_id"),
    doc="Router interfaces, derived from ports whose device_owner is a router interface (one row per fixed IP).",
)


def _fixed_ip_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"subnet_id": f.get("subnet_id"), "ip_address": f.get("ip_address")} for f in items(raw.get("fixed_ips"))]


def _interface_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    owner = raw.get("device_owner") or ""
    if not owner.startswith(INTERFACE_OWNERS) or not raw.get("device_id"):
        return []
    return [
        {"router_id": raw["device_id"], "network_id": raw.get("network_id"), "interface_type": owner, **row}
        for row in _fixed_ip_rows(raw)
    ]


SPEC = ResourceSpec(
    kind="ports",
    table=table,
    description="Neutron ports",
    listing=Listing(service="network", path="/ports", collection="ports"),
    get_path="/ports/{id}",
    get_key="port",
    columns={
        "name": lambda r: r.get("name") or None,
        "search_text": lowered("name", "id", "mac_address", lambda r: [f["ip_address"] for f in _fixed_ip_rows(r)]),
        "network_id": "network_id",
        "mac_address": "mac_address",
        "device_id": lambda r: r.get("device_id") or None,
        "device_owner": lambda r: r.get("device_owner") or None,
        "status": "status",
        "admin_state_up": boolean("admin_state_up"),
        "host": lambda r: r.get("binding:host_id") or None,
        "vnic_type": "binding:vnic_type",
        "vif_type": "binding:vif_type",
        "port_security_enabled": boolean("port_security_enabled"),
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    children=(ChildSpec(fixed_ips, _fixed_ip_rows), ChildSpec(router_interfaces, _interface_rows)),
    searchable=("name", "search_text"),
    filterable=FILTERABLE,
    poll_interval=60.0,
)
