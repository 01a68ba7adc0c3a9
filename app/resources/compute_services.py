"""Nova services (``/os-services``): nova-compute, nova-conductor, nova-scheduler ... with their
up/down state and enabled/disabled status. ``id`` is a UUID from microversion 2.53 (an integer before)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String

from app.resources._common import boolean, cloud_indexes, ts
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("binary", "host", "zone", "status", "state")

table = snapshot_table(
    "compute_services",
    Column("binary", String(64), doc="nova-compute, nova-scheduler, nova-conductor, ..."),
    Column("host", String(255), doc="Host the service runs on."),
    Column("zone", String(255), doc="Availability zone (internal for control services)."),
    Column("status", String(16), doc="enabled or disabled."),
    Column("state", String(16), doc="up or down (heartbeat)."),
    Column("disabled_reason", String(255), doc="Why it was disabled."),
    Column("forced_down", Boolean, doc="Forced down by an operator (2.11+)."),
    Column("updated_at", DateTime, doc="Last heartbeat (UTC)."),
    *cloud_indexes("compute_services", *FILTERABLE),
    doc="Nova services and their health.",
)

SPEC = ResourceSpec(
    kind="compute_services",
    table=table,
    description="Nova services (nova-compute, scheduler, conductor)",
    listing=Listing(service="compute", path="/os-services", collection="services", paginated=False,
                    microversion="max"),
    columns={
        "binary": "binary",
        "host": "host",
        "zone": "zone",
        "status": "status",
        "state": "state",
        "disabled_reason": "disabled_reason",
        "forced_down": boolean("forced_down"),
        "updated_at": ts("updated_at"),
    },
    searchable=("host", "binary"),
    filterable=FILTERABLE,
    poll_interval=120.0,
    admin_only=True,
)
