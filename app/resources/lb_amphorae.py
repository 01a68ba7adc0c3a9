"""Octavia amphorae (``/octavia/amphorae``, admin only): the service VMs of the amphora provider. A
load balancer has one (SINGLE topology) or two (ACTIVE_STANDBY: MASTER and BACKUP)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String

from app.resources._common import cloud_indexes, first, text, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table
from app.resources.load_balancers import LB_SERVICE

FILTERABLE = ("loadbalancer_id", "compute_id", "status", "role", "lb_network_ip")

table = snapshot_table(
    "lb_amphorae",
    Column("loadbalancer_id", String(64), doc="Its load balancer (joins load_balancers.id)."),
    Column("compute_id", String(64), doc="The Nova server running it (joins servers.id)."),
    Column("status", String(32), doc="BOOTING, ALLOCATED, READY, PENDING_CREATE, PENDING_DELETE, ERROR, DELETED."),
    Column("role", String(16), doc="STANDALONE, MASTER, BACKUP."),
    Column("lb_network_ip", String(64), doc="Address on the management network."),
    Column("vrrp_ip", String(64), doc="VRRP address on the VIP network."),
    Column("ha_ip", String(64), doc="The VIP address it carries."),
    Column("cert_expiration", DateTime, doc="When its agent certificate expires (UTC)."),
    Column("image_id", String(64), doc="Glance image it was built from."),
    Column("compute_flavor", String(64), doc="Nova flavor id."),
    Column("cached_zone", String(255), doc="Nova availability zone."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("lb_amphorae", *FILTERABLE),
    doc="Octavia amphorae (admin only).",
)

SPEC = ResourceSpec(
    kind="lb_amphorae",
    table=table,
    description="Octavia amphorae (admin)",
    listing=Listing(service=LB_SERVICE, path="/octavia/amphorae", collection="amphorae"),
    get_path="/octavia/amphorae/{id}",
    get_key="amphora",
    columns={
        # the API answers loadbalancer_id; the API reference's example spells it load_balancer_id
        "loadbalancer_id": first("loadbalancer_id", "load_balancer_id"),
        "compute_id": text("compute_id"),
        "status": "status",
        "role": text("role"),
        "lb_network_ip": text("lb_network_ip"),
        "vrrp_ip": text("vrrp_ip"),
        "ha_ip": text("ha_ip"),
        "cert_expiration": ts("cert_expiration"),
        "image_id": text("image_id"),
        "compute_flavor": text("compute_flavor"),
        "cached_zone": text("cached_zone"),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    searchable=("compute_id",),  # an amphora is found by its Nova server
    filterable=FILTERABLE,
    poll_interval=300.0,
    admin_only=True,
)
