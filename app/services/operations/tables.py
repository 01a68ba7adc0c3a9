"""The two tables of management operations: the audit log and the pending confirmation tokens.

Both live on the shared MetaData (schema owned by Alembic revision ``0003_operations``) so several
replicas pointing at one database share the audit log and can confirm each other's tokens."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from app.db.meta import metadata

operations = Table(
    "operations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, doc="Operation id (returned to the caller as operation_id)."),
    Column("cloud", String(64), nullable=False, doc="Cloud label (settings.cloud_name)."),
    Column("at", DateTime, nullable=False, doc="When the call started (UTC)."),
    Column("principal", String(128), nullable=False,
           doc="Who called: 'local' (stdio/in-process), 'bearer:<sha256 prefix of the token>' or 'http-anonymous'."),
    Column("tool", String(64), nullable=False, doc="Management tool, e.g. manage_instance."),
    Column("action", String(32), nullable=False, doc="Action asked for, e.g. stop (as given, even when refused)."),
    Column("targets", JSON, doc="Resolved targets: list of {kind, id, name} (empty when resolution failed)."),
    Column("arguments", JSON, doc="Tool arguments with secrets redacted ('***'); confirmation tokens never stored."),
    Column("confirmed", Boolean, nullable=False, default=False, doc="True when executed with a confirmation token."),
    Column("outcome", String(16), nullable=False,
           doc="preview (token issued, nothing changed), succeeded (OpenStack accepted; target state reached when "
               "waited), timed_out (accepted, target state not reached in time), refused (rejected before any "
               "OpenStack call), failed (OpenStack refused or failed, or the resource went to an error state), "
               "in_progress (written before the OpenStack call; left so only if the process died mid-call: "
               "the outcome is unknown, check the resource)."),
    Column("error", Text, doc="Error message of a refused/failed call."),
    Column("request_ids", JSON, doc="OpenStack request ids of the write calls (x-openstack-request-id)."),
    Column("duration_s", Float, doc="Wall time of the call in seconds."),
    Index("ix_operations_cloud_at", "cloud", "at"),
    Index("ix_operations_cloud_tool", "cloud", "tool"),
    comment="Audit log of every management tool call (including previews, refused and failed calls).",
    info={"doc": "Audit log of every management tool call (including previews, refused and failed calls)."},
)

confirmation_tokens = Table(
    "confirmation_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, doc="SHA-256 of the token (the token itself is never stored)."),
    Column("cloud", String(64), nullable=False, doc="Cloud label."),
    Column("tool", String(64), nullable=False, doc="Tool the token was issued by."),
    Column("action", String(32), nullable=False, doc="Action it confirms."),
    Column("binding", String(64), nullable=False,
           doc="SHA-256 of the canonical (tool, action, arguments, target ids, principal) it is bound to."),
    Column("targets", JSON, doc="Target ids it was issued for (for messages)."),
    Column("principal", String(128), nullable=False, doc="Who asked for the preview."),
    Column("created_at", DateTime, nullable=False, doc="Issued at (UTC)."),
    Column("expires_at", DateTime, nullable=False, doc="Refused after this (UTC)."),
    Column("used_at", DateTime, doc="When it was consumed (single use); NULL while pending."),
    Index("ix_confirmation_tokens_expires_at", "expires_at"),
    comment="Pending and used confirmation tokens of destructive management actions (hashed, single use).",
    info={"doc": "Pending and used confirmation tokens of destructive management actions (hashed, single use)."},
)
