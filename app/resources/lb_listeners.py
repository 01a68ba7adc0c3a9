"""Octavia listeners (``/lbaas/listeners``): a protocol and port on a load balancer's VIP, with its
default pool. L7 policy ids are in raw.l7policies; TLS container refs (Barbican URLs, not secrets) in
raw."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String

from app.resources._common import cloud_indexes, integer, text
from app.resources.base import Listing, ResourceSpec, snapshot_table
from app.resources.load_balancers import COMMON_SOURCES, LB_SERVICE, first_id, owner_columns, status_columns

FILTERABLE = ("name", "loadbalancer_id", "provisioning_status", "operating_status", "protocol", "protocol_port",
              "default_pool_id", "project_id")

table = snapshot_table(
    "lb_listeners",
    Column("name", String(255), doc="Listener name."),
    Column("loadbalancer_id", String(64), doc="The load balancer (first of raw.loadbalancers; joins load_balancers.id)."),
    Column("protocol", String(32), doc="HTTP, HTTPS, TCP, UDP, SCTP, TERMINATED_HTTPS, PROMETHEUS."),
    Column("protocol_port", Integer, doc="The port it listens on."),
    *status_columns(),
    Column("default_pool_id", String(64), doc="Pool receiving traffic no L7 policy redirects (joins lb_pools.id)."),
    Column("connection_limit", Integer, doc="Maximum connections (-1: unlimited)."),
    *owner_columns(),
    *cloud_indexes("lb_listeners", *FILTERABLE),
    doc="Octavia listeners. L7 policy ids in raw.l7policies.",
)


SPEC = ResourceSpec(
    kind="lb_listeners",
    table=table,
    description="Octavia listeners",
    listing=Listing(service=LB_SERVICE, path="/lbaas/listeners", collection="listeners"),
    get_path="/lbaas/listeners/{id}",
    get_key="listener",
    columns={
        **COMMON_SOURCES,
        "name": lambda r: r.get("name") or None,
        "loadbalancer_id": first_id("loadbalancers"),
        "protocol": "protocol",
        "protocol_port": integer("protocol_port"),
        "default_pool_id": text("default_pool_id"),
        "connection_limit": integer("connection_limit"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=300.0,
)
