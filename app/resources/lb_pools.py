"""Octavia pools (``/lbaas/pools``) and their members.

Octavia lists members per pool only (``/lbaas/pools/{pool_id}/members``): each pool's listing is
enriched with that GET (stored under ``raw.member_details``) and its members become rows of the
``lb_members`` link table, replaced whenever the pool's raw object changes (a member's status change
is one). One GET per pool and poll: a few hundred at 50,000 instances. That GET is not paged further:
Octavia's default ``pagination_max_limit`` (1000) members per pool are kept, and a pool with more is
flagged in ``raw.member_details.members_links``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Integer, String

from app.resources._common import as_bool, as_int, cloud_indexes, items, text
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table
from app.resources.load_balancers import COMMON_SOURCES, LB_SERVICE, first_id, owner_columns, status_columns

FILTERABLE = ("name", "loadbalancer_id", "listener_id", "provisioning_status", "operating_status", "protocol",
              "healthmonitor_id", "project_id")
MEMBERS_KEY = "member_details"

table = snapshot_table(
    "lb_pools",
    Column("name", String(255), doc="Pool name."),
    Column("loadbalancer_id", String(64), doc="The load balancer (first of raw.loadbalancers; joins load_balancers.id)."),
    Column("listener_id", String(64), doc="First listener using it as default pool (raw.listeners; joins lb_listeners.id)."),
    Column("protocol", String(32), doc="HTTP, HTTPS, PROXY, PROXYV2, TCP, UDP, SCTP."),
    Column("lb_algorithm", String(32), doc="ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT."),
    *status_columns(),
    Column("healthmonitor_id", String(64), doc="Its health monitor (joins lb_health_monitors.id; NULL: none)."),
    Column("member_count", Integer, doc="Members listed for it (rows in lb_members)."),
    *owner_columns(),
    *cloud_indexes("lb_pools", *FILTERABLE),
    doc="Octavia pools. Members in lb_members (from raw.member_details, the pool's member listing).",
)

members = link_table(
    "lb_members", "pool",
    Column("member_id", String(64), doc="Member id."),
    Column("name", String(255), doc="Member name."),
    Column("address", String(64), doc="Backend IP address (joins port_fixed_ips / server addresses)."),
    Column("protocol_port", Integer, doc="Backend port."),
    Column("weight", Integer, doc="Share of traffic (0..256; 0: no new connections)."),
    Column("backup", Boolean, doc="Backup member (only used when every other member is down)."),
    Column("admin_state_up", Boolean, doc="Administrative state."),
    Column("operating_status", String(16), doc="ONLINE, ERROR (health checks fail), OFFLINE, DRAINING, NO_MONITOR."),
    Column("provisioning_status", String(16), doc="ACTIVE, PENDING_*, ERROR."),
    Column("subnet_id", String(64), doc="Subnet the member is reached on."),
    *cloud_indexes("lb_members", "address", "operating_status"),
    doc="Octavia pool members (from each pool's member listing).",
)


def member_list(raw: dict[str, Any]) -> list[dict[str, Any]]:
    body = raw.get(MEMBERS_KEY)
    return [m for m in items(body.get("members")) if isinstance(m, dict)] if isinstance(body, dict) else []


def _member_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "member_id": m.get("id"), "name": m.get("name") or None, "address": m.get("address"),
            "protocol_port": as_int(m.get("protocol_port")), "weight": as_int(m.get("weight")),
            "backup": as_bool(m.get("backup")), "admin_state_up": as_bool(m.get("admin_state_up")),
            "operating_status": m.get("operating_status"), "provisioning_status": m.get("provisioning_status"),
            "subnet_id": m.get("subnet_id"),
        }
        for m in member_list(raw)
    ]


SPEC = ResourceSpec(
    kind="lb_pools",
    table=table,
    description="Octavia pools and their members",
    listing=Listing(service=LB_SERVICE, path="/lbaas/pools", collection="pools",
                    enrich={MEMBERS_KEY: "/lbaas/pools/{id}/members"}),
    get_path="/lbaas/pools/{id}",
    get_key="pool",
    columns={
        **COMMON_SOURCES,
        "name": lambda r: r.get("name") or None,
        "loadbalancer_id": first_id("loadbalancers"),
        "listener_id": first_id("listeners"),
        "protocol": "protocol",
        "lb_algorithm": "lb_algorithm",
        "healthmonitor_id": text("healthmonitor_id"),
        "member_count": lambda r: len(member_list(r)) if isinstance(r.get(MEMBERS_KEY), dict) else None,
    },
    children=(ChildSpec(members, _member_rows),),
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=120.0,
)
