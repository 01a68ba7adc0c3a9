"""Octavia health monitors (``/lbaas/healthmonitors``): how a pool checks its members."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import boolean, cloud_indexes, integer, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table
from app.resources.load_balancers import LB_SERVICE, first_id

FILTERABLE = ("name", "pool_id", "type", "provisioning_status", "operating_status", "project_id")

table = snapshot_table(
    "lb_health_monitors",
    Column("name", String(255), doc="Health monitor name."),
    Column("pool_id", String(64), doc="The pool it checks (first of raw.pools; joins lb_pools.id)."),
    Column("type", String(16), doc="HTTP, HTTPS, PING, TCP, TLS-HELLO, UDP-CONNECT, SCTP."),
    Column("delay", Integer, doc="Seconds between checks."),
    Column("timeout", Integer, doc="Seconds a check waits for an answer."),
    Column("max_retries", Integer, doc="Successful checks before a member is ONLINE again."),
    Column("max_retries_down", Integer, doc="Failed checks before a member is ERROR."),
    Column("http_method", String(16), doc="HTTP(S) checks: method."),
    Column("url_path", String(255), doc="HTTP(S) checks: path."),
    Column("expected_codes", String(64), doc="HTTP(S) checks: expected status codes, e.g. 200 or 200-204."),
    Column("provisioning_status", String(16), doc="ACTIVE, PENDING_*, ERROR."),
    Column("operating_status", String(16), doc="ONLINE, OFFLINE, ..."),
    Column("admin_state_up", Boolean, doc="Administrative state."),
    Column("project_id", String(64), doc="Owning project."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("lb_health_monitors", *FILTERABLE),
    doc="Octavia health monitors.",
)

SPEC = ResourceSpec(
    kind="lb_health_monitors",
    table=table,
    description="Octavia health monitors",
    listing=Listing(service=LB_SERVICE, path="/lbaas/healthmonitors", collection="healthmonitors"),
    get_path="/lbaas/healthmonitors/{id}",
    get_key="healthmonitor",
    columns={
        "name": lambda r: r.get("name") or None,
        "pool_id": first_id("pools"),
        "type": "type",
        "delay": integer("delay"),
        "timeout": integer("timeout"),
        "max_retries": integer("max_retries"),
        "max_retries_down": integer("max_retries_down"),
        "http_method": text("http_method"),
        "url_path": text("url_path"),
        "expected_codes": text("expected_codes"),
        "provisioning_status": "provisioning_status",
        "operating_status": "operating_status",
        "admin_state_up": boolean("admin_state_up"),
        "project_id": text("project_id"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=300.0,
)
