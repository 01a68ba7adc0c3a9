"""Neutron agents (``/agents``, admin only): L3, DHCP, OVS/OVN, metadata agents and their liveness."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("agent_type", "binary", "host", "alive", "admin_state_up", "availability_zone")

table = snapshot_table(
    "network_agents",
    Column("agent_type", String(64), doc="L3 agent, DHCP agent, Open vSwitch agent, OVN Controller agent, ..."),
    Column("binary", String(64), doc="neutron-l3-agent, neutron-dhcp-agent, ..."),
    Column("host", String(255), doc="Host it runs on."),
    Column("availability_zone", String(255), doc="Zone (L3/DHCP agents only)."),
    Column("alive", Boolean, doc="Heartbeat recent (false = down)."),
    Column("admin_state_up", Boolean, doc="false = disabled by an operator."),
    Column("heartbeat_at", DateTime, doc="heartbeat_timestamp (UTC)."),
    Column("started_at", DateTime, doc="started_at (UTC)."),
    Column("created_at", DateTime, doc="created_at (UTC)."),
    *cloud_indexes("network_agents", *FILTERABLE),
    doc="Neutron agents and their health. Configuration in raw.configurations.",
)

SPEC = ResourceSpec(
    kind="network_agents",
    table=table,
    description="Neutron agents",
    listing=Listing(service="network", path="/agents", collection="agents"),
    get_path="/agents/{id}",
    get_key="agent",
    columns={
        "agent_type": "agent_type",
        "binary": "binary",
        "host": "host",
        "availability_zone": "availability_zone",
        "alive": boolean("alive"),
        "admin_state_up": boolean("admin_state_up"),
        "heartbeat_at": ts("heartbeat_timestamp"),
        "started_at": ts("started_at"),
        "created_at": ts("created_at"),
    },
    searchable=("host", "binary"),
    filterable=FILTERABLE,
    poll_interval=120.0,
    admin_only=True,
)
