"""Quotas and usage per project: the Keystone project listing, each project enriched with three
sub-requests on other services (``Enrich``): Nova ``/os-quota-sets/{id}/detail``, Neutron
``/quotas/{id}/details`` and Cinder ``/os-quota-sets/{id}?usage=True`` (bodies under
``raw["compute_quota"]``, ``raw["network_quota"]``, ``raw["volume_quota"]``; arithmetic in
``app.resources._quotas``).

One row per project with what the fleet view ranks on (``max_used_pct``, the ``tightest`` resource,
how many key resources are at or over their limit), indexed so "projects closest to their limits" is
an index range walk; one link row per (project, service, resource) with the typed limit, usage,
reservation and % used. ``-1`` is unlimited (``used_pct`` NULL). A service the cloud does not offer,
or refuses for a project (403), is listed in ``unavailable`` and contributes no rows: never zeros.

Polled every 5 minutes: limits change rarely, usage moves with instances and volumes, and each run
costs three requests per project (``get_quota(live=true)`` reads one project now).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String

from app.resources import _quotas as q
from app.resources._common import cloud_indexes
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table

table = snapshot_table(
    "project_quotas",
    Column("name", String(255), doc="Project name."),
    Column("domain_id", String(64), doc="Owning domain."),
    Column("max_used_pct", Float, doc="Highest % used among the key resources with a limit (NULL: none limited)."),
    Column("tightest", String(64), doc="service/resource closest to its limit (what runs out first)."),
    Column("tightest_in_use", Integer, doc="In use of the tightest resource."),
    Column("tightest_limit", Integer, doc="Limit of the tightest resource."),
    Column("at_or_over", Integer, doc="How many key resources are at or over their limit."),
    Column("unavailable", String(64), doc="Comma-separated services whose quotas could not be read "
                                          "(not offered, 403, 404); their resources have no rows."),
    *cloud_indexes("project_quotas", "name", "max_used_pct", "at_or_over"),
    doc="Quotas and usage per project (compute, network, block storage); id = project id. Key resources: "
        "instances, cores, ram_mb, floating_ips, ports, networks, volumes, gigabytes, snapshots.",
)

items = link_table(
    "project_quota_items", "project_quota",
    Column("service", String(16), doc="compute, network or volume."),
    Column("resource", String(255), doc="instances, cores, ram_mb, floating_ips, ports, networks, volumes, gigabytes, "
                                        "snapshots; other resources keep their upstream names."),
    Column("quota_limit", Integer, doc="The limit (-1 = unlimited)."),
    Column("in_use", Integer, doc="In use (Neutron's used)."),
    Column("reserved", Integer, doc="Reserved by requests in flight."),
    Column("used_pct", Float, doc="in_use / quota_limit in %; NULL when unlimited or the limit is 0."),
    Column("key_resource", Boolean, doc="One of the key resources (ranked by the fleet view)."),
    *cloud_indexes("project_quota_items", "resource", "used_pct", then={"resource": ("used_pct",)}),
    doc="One row per project, service and resource: limit, in use, reserved, % used.",
)

SPEC = ResourceSpec(
    kind="project_quotas",
    table=table,
    description="Quotas and usage per project",
    listing=Listing(service="identity", path="/projects", collection="projects", paginated=False,
                    enrich={s.raw_key: s.enrich() for s in q.SOURCES}),
    get_path="/projects/{id}",
    get_key="project",
    columns={
        "name": "name",
        "domain_id": "domain_id",
        **{c: q.column(c) for c in ("max_used_pct", "tightest", "tightest_in_use", "tightest_limit", "at_or_over",
                                    "unavailable")},
    },
    children=(ChildSpec(items, q.synced_items),),
    searchable=("name",),
    filterable=("name", "max_used_pct", "at_or_over"),
    poll_interval=300.0,
    admin_only=True,
    change_ignore=frozenset({"tightest_in_use", "tightest_limit"}),
)
