"""Cinder services (``/os-services`` on block storage): cinder-volume per backend, scheduler, backup.
The API gives no id, so the row id is derived from ``binary`` and ``host`` (``host@backend``), which
together identify a Cinder service."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, stable_id, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("binary", "host", "zone", "status", "state")

table = snapshot_table(
    "volume_services",
    Column("binary", String(64), doc="cinder-volume, cinder-scheduler, cinder-backup."),
    Column("host", String(255), doc="host, or host@backend for cinder-volume."),
    Column("zone", String(255), doc="Storage availability zone."),
    Column("status", String(16), doc="enabled or disabled."),
    Column("state", String(16), doc="up or down (heartbeat)."),
    Column("disabled_reason", String(255), doc="Why it was disabled."),
    Column("frozen", Boolean, doc="Frozen (replication failover)."),
    Column("cluster", String(255), doc="Cluster name (active-active)."),
    Column("updated_at", DateTime, doc="Last heartbeat (UTC)."),
    *cloud_indexes("volume_services", *FILTERABLE),
    doc="Cinder services and their health. id = sha1(binary, host).",
)

SPEC = ResourceSpec(
    kind="volume_services",
    table=table,
    description="Cinder services",
    listing=Listing(service="block_storage", path="/os-services", collection="services", paginated=False,
                    microversion="max"),
    id_key=lambda r: stable_id("volume_service", r.get("binary"), r.get("host")),
    columns={
        "binary": "binary",
        "host": "host",
        "zone": "zone",
        "status": "status",
        "state": "state",
        "disabled_reason": "disabled_reason",
        "frozen": boolean("frozen"),
        "cluster": "cluster",
        "updated_at": ts("updated_at"),
    },
    searchable=("host", "binary"),
    filterable=FILTERABLE,
    poll_interval=120.0,
    admin_only=True,
)
