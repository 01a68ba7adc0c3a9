"""Nova availability zones (``/os-availability-zone/detail``, admin: includes hosts and the
``internal`` zone). The zone name is the row id. Hosts and their services stay in raw.hosts."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String

from app.resources._common import boolean, cloud_indexes
from app.resources.base import Listing, ResourceSpec, snapshot_table

table = snapshot_table(
    "availability_zones",
    Column("name", String(255), doc="Zone name (zoneName; also the row id)."),
    Column("available", Boolean, doc="zoneState.available."),
    Column("host_count", Integer, doc="Hosts in the zone (NULL when the API gives no host detail)."),
    *cloud_indexes("availability_zones", "name", "available"),
    doc="Nova availability zones (compute). Host -> service detail in raw.hosts.",
)

SPEC = ResourceSpec(
    kind="availability_zones",
    table=table,
    description="Nova availability zones",
    listing=Listing(service="compute", path="/os-availability-zone/detail", collection="availabilityZoneInfo",
                    paginated=False),
    id_key="zoneName",
    columns={
        "name": "zoneName",
        "available": boolean("zoneState.available"),
        "host_count": lambda r: len(r["hosts"]) if isinstance(r.get("hosts"), dict) else None,
    },
    searchable=("name",),
    filterable=("name", "available"),
    poll_interval=900.0,
    admin_only=True,
)
