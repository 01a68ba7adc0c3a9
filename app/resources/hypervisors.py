"""Nova hypervisors (``/os-hypervisors/detail`` at the highest microversion).

From compute microversion 2.88 on, the capacity fields (vcpus, memory_mb, local_gb and their *_used,
running_vms, ...) are gone: capacity then comes from Placement (resource_providers and its link
tables). They are mapped as nullable so that older clouds (train ... xena) still report them; nothing
is invented when they are absent. ``id`` is an integer below 2.53 and the compute node UUID (which is
also its Placement resource provider UUID) from 2.53.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String

from app.resources._common import cloud_indexes, integer, text
from app.resources.base import Listing, ResourceSpec, snapshot_table

FILTERABLE = ("hypervisor_hostname", "host", "state", "status", "hypervisor_type")

table = snapshot_table(
    "hypervisors",
    Column("hypervisor_hostname", String(255), doc="Hypervisor host name (matches servers.hypervisor_hostname and, usually, the Placement provider name)."),
    Column("host", String(255), doc="nova-compute service host (service.host; matches servers.host)."),
    Column("state", String(16), doc="up or down."),
    Column("status", String(16), doc="enabled or disabled."),
    Column("hypervisor_type", String(64), doc="QEMU, VMware vCenter Server, ironic, ..."),
    Column("hypervisor_version", BigInteger, doc="Hypervisor version as an integer."),
    Column("host_ip", String(64), doc="Management IP of the host."),
    Column("vcpus", Integer, doc="Physical CPUs (below microversion 2.88 only)."),
    Column("vcpus_used", Integer, doc="vCPUs allocated to instances (below 2.88 only)."),
    Column("memory_mb", Integer, doc="RAM MiB (below 2.88 only)."),
    Column("memory_mb_used", Integer, doc="RAM MiB used (below 2.88 only)."),
    Column("local_gb", Integer, doc="Local disk GiB (below 2.88 only)."),
    Column("local_gb_used", Integer, doc="Local disk GiB used (below 2.88 only)."),
    Column("running_vms", Integer, doc="Instances on the hypervisor (below 2.88 only)."),
    Column("disk_available_least", Integer, doc="Free disk GiB by the scheduler's measure (below 2.88 only)."),
    Column("service_disabled_reason", String(255), doc="service.disabled_reason."),
    # hostname + id: get_hypervisor_list's order, so a page is one index range walk.
    *cloud_indexes("hypervisors", *FILTERABLE, then={"hypervisor_hostname": ("id",)}),
    doc="Nova hypervisors (compute nodes). Capacity fields are NULL at compute microversion 2.88+; see v_hypervisor_capacity.",
)

SPEC = ResourceSpec(
    kind="hypervisors",
    table=table,
    description="Nova hypervisors (compute nodes)",
    listing=Listing(service="compute", path="/os-hypervisors/detail", collection="hypervisors", microversion="max"),
    get_path="/os-hypervisors/{id}",
    get_key="hypervisor",
    columns={
        "hypervisor_hostname": "hypervisor_hostname",
        "host": "service.host",
        "state": "state",
        "status": "status",
        "hypervisor_type": "hypervisor_type",
        "hypervisor_version": integer("hypervisor_version"),
        "host_ip": text("host_ip"),
        "vcpus": integer("vcpus"),
        "vcpus_used": integer("vcpus_used"),
        "memory_mb": integer("memory_mb"),
        "memory_mb_used": integer("memory_mb_used"),
        "local_gb": integer("local_gb"),
        "local_gb_used": integer("local_gb_used"),
        "running_vms": integer("running_vms"),
        "disk_available_least": integer("disk_available_least"),
        "service_disabled_reason": "service.disabled_reason",
    },
    searchable=("hypervisor_hostname",),
    filterable=FILTERABLE,
    poll_interval=300.0,
    admin_only=True,
)
