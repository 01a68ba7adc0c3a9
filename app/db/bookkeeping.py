"""Tables that are not snapshots of OpenStack kinds: sync runs (freshness comes from here) and the
poller lease (exactly one process polls a database at a time)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, String, Table, Text

from app.db.meta import metadata

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, doc="Run id; snapshot rows carry it in last_sync_id."),
    Column("cloud", String(64), nullable=False, doc="Cloud label (settings.cloud_name)."),
    Column("kind", String(64), nullable=False, doc="Resource kind, e.g. servers."),
    Column("mode", String(16), nullable=False, doc="full, incremental or targeted."),
    Column("status", String(16), nullable=False, doc="running, succeeded, failed, partial or unavailable."),
    Column("started_at", DateTime, nullable=False, doc="UTC start time."),
    Column("finished_at", DateTime, doc="UTC end time (NULL while running)."),
    Column("duration_s", Float, doc="Wall time in seconds."),
    Column("seen", Integer, nullable=False, default=0, doc="Objects listed."),
    Column("added", Integer, nullable=False, default=0, doc="Rows inserted (first seen, or revived)."),
    Column("changed", Integer, nullable=False, default=0, doc="Rows whose content changed."),
    Column("tombstoned", Integer, nullable=False, default=0, doc="Rows marked deleted."),
    Column("error", Text, doc="Error message of a failed/unavailable run (no secrets)."),
    Column("request_id", String(128), doc="OpenStack request id of the failing call, when known."),
    Column("details", JSON, doc="Extra facts: pages fetched, microversion used, since-timestamp of incremental runs."),
    Index("ix_sync_runs_cloud_kind_started_at", "cloud", "kind", "started_at"),
    Index("ix_sync_runs_status", "status"),
    # get_sync_status: the newest runs (of a kind), ORDER BY id DESC LIMIT n, walk these backwards
    Index("ix_sync_runs_cloud_id", "cloud", "id"),
    Index("ix_sync_runs_cloud_kind_id", "cloud", "kind", "id"),
)

poller_lease = Table(
    "poller_lease",
    metadata,
    Column("name", String(64), primary_key=True, doc="Lease name (one per cloud label: 'poller:<cloud>')."),
    Column("owner", String(128), nullable=False, doc="host:pid:random of the holder."),
    Column("acquired_at", DateTime, nullable=False, doc="When the current holder took the lease (UTC)."),
    Column("expires_at", DateTime, nullable=False, doc="Holder must renew before this (UTC); others may take it after."),
    Column("epoch", Integer, nullable=False, server_default="0",
           doc="Fencing token: incremented whenever the lease changes hands; every write of a poller run checks "
               "that its owner and epoch still hold the lease."),
)

cloud_identities = Table(
    "cloud_identities",
    metadata,
    Column("cloud", String(64), primary_key=True, doc="Cloud label."),
    Column("fingerprint", String(64), nullable=False,
           doc="sha256 of the cloud's auth URL, region and project: a server for another cloud under this label "
               "is refused."),
    Column("auth_url", String(512), doc="Keystone URL the label was first served from (no credentials)."),
    Column("region", String(128), doc="Region name."),
    Column("project", String(256), doc="Project (name or id, with its domain) the poller authenticates in."),
    Column("first_seen_at", DateTime, nullable=False, doc="When a server first recorded this label (UTC)."),
    Column("last_seen_at", DateTime, nullable=False, doc="When a server last started with it (UTC)."),
    comment="Which cloud each label's rows come from: a fingerprint of auth URL, region and project, checked at "
            "start-up so two clouds never share a label.",
)

snapshot_versions = Table(
    "snapshot_versions",
    metadata,
    Column("cloud", String(64), primary_key=True, doc="Cloud label."),
    Column("kind", String(64), primary_key=True, doc="Resource kind."),
    Column("version", Integer, nullable=False, doc="Bumped in the same transaction as every write that changes "
                                                     "this kind's rows (adds, changes, tombstones, purges)."),
    Column("changed_at", DateTime, nullable=False, doc="When the version last changed (UTC)."),
    comment="Data version per kind: lets derived reports be cached until the data they read changes.",
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("cloud", String(64), primary_key=True, doc="Cloud label."),
    Column("kind", String(64), primary_key=True, doc="Resource kind."),
    Column("last_success_at", DateTime, doc="finished_at of the newest succeeded full/incremental run (freshness as_of)."),
    Column("last_status", String(16), doc="Status of the newest finished full/incremental run."),
    Column("last_error", Text, doc="Its error, when it did not succeed."),
    Column("last_finished_at", DateTime, doc="When that run finished (UTC)."),
    Column("last_run_id", Integer, doc="sync_runs.id of that run."),
    comment="Latest full/incremental outcome per kind, kept by the run log in the same transaction as the "
            "run's finish: freshness is one primary-key read, however long sync_runs grows.",
)

snapshot_changes = Table(
    "snapshot_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, doc="Append order."),
    Column("cloud", String(64), nullable=False, doc="Cloud label."),
    Column("kind", String(64), nullable=False, doc="Resource kind, e.g. servers."),
    Column("resource_id", String(64), nullable=False, doc="The changed row's id."),
    Column("change", String(16), nullable=False, doc="created, changed or deleted."),
    Column("at", DateTime, nullable=False,
           doc="When OpenStack showed it (UTC): the observation time of the listing page or GET."),
    Column("sync_run_id", Integer, doc="sync_runs.id of the run that saw it."),
    Column("name", String(255), doc="The resource's name at the time (if the kind has names)."),
    Column("project_id", String(64), doc="Its project at the time (if the kind has projects)."),
    Column("before", JSON, doc="changed/deleted: the typed columns that changed, old values (names as in the "
                               "kind's table)."),
    Column("after", JSON, doc="created/changed: the same columns, new values."),
    # Pages are ORDER BY at DESC, id DESC: every index ends (at, id), so a page is an index walk that
    # stops when it is full (SQLite has the rowid there anyway; PostgreSQL needs it spelled out).
    Index("ix_snapshot_changes_cloud_at_id", "cloud", "at", "id"),
    Index("ix_snapshot_changes_cloud_kind_at_id", "cloud", "kind", "at", "id"),
    Index("ix_snapshot_changes_cloud_resource_id_at_id", "cloud", "resource_id", "at", "id"),
    Index("ix_snapshot_changes_cloud_project_id_at_id", "cloud", "project_id", "at", "id"),
    comment="Append-only log of snapshot row changes written by the sync itself (not on a kind's first sync), "
            "kept OPS_CHANGE_RETENTION_DAYS: what changed when, with before/after values of typed columns.",
)

snapshot_change_counts = Table(
    "snapshot_change_counts",
    metadata,
    Column("cloud", String(64), primary_key=True, doc="Cloud label."),
    Column("width", Integer, primary_key=True, doc="Bucket width in seconds: 3600 and 60 for every project's "
                                                     "counts, 3600 for a project's own."),
    Column("project_id", String(64), primary_key=True,
           doc="'' counts every project's changes; a project ID counts that project's own (hourly)."),
    Column("bucket", DateTime, primary_key=True, doc="Start of the bucket (UTC): at is in [bucket, bucket+width)."),
    Column("kind", String(64), primary_key=True, doc="Resource kind."),
    Column("change", String(16), primary_key=True, doc="created, changed or deleted."),
    Column("status_before", String(255), primary_key=True,
           doc="A 'changed' row's old status when its status changed (both old and new set), else ''."),
    Column("status_after", String(255), primary_key=True, doc="Its new status, else ''."),
    Column("n", Integer, nullable=False, doc="How many change rows."),
    Column("first_at", DateTime, nullable=False, doc="Earliest at of them."),
    Column("last_at", DateTime, nullable=False, doc="Latest at of them."),
    comment="snapshot_changes counted per time bucket (app/db/change_counts.py), written with the change rows "
            "and kept by their purge: get_changes sums a window from these instead of every change row.",
)
