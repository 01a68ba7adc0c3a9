"""Octavia health monitors (``/lbaas/healthmonitors``): how a pool checks its members."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String

from app.resources._common import cloud_indexes, integer, text
from app.resources.base import Listing, ResourceSpec, snapshot_table
from app.resources.load_balancers import COMMON_SOURCES, LB_SERVICE, first_id, owner_columns, status_columns

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
    *status_columns(),
    *owner_columns(),
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
        **COMMON_SOURCES,
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
    },
    searchable=("name",),
    filterable=FILTERABLE,
    poll_interval=300.0,
)
