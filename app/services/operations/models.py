"""Result models of management tools and of the operation log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.services.models import PageInfo


def aware(v: datetime | None) -> datetime | None:
    """Naive UTC (as stored) -> timezone-aware UTC, so JSON carries an offset (RFC 3339 date-time)."""
    return v.replace(tzinfo=timezone.utc) if v is not None and v.tzinfo is None else v


class ResourceState(BaseModel):
    kind: str = Field(description="Resource kind, e.g. servers, volumes.")
    id: str = Field(description="OpenStack ID.")
    name: str | None = Field(default=None, description="Name (or address for floating IPs).")
    status: str | None = Field(default=None, description="Status in the snapshot row (refreshed from OpenStack after a write).")
    deleted: bool = Field(default=False, description="True when OpenStack no longer has it (row tombstoned).")
    fields: dict[str, Any] = Field(default_factory=dict, description="The snapshot row's typed columns (task_state, size_gb, ...).")


class OperationResult(BaseModel):
    """What a management call did, or (status confirmation_required) what it would do."""

    tool: str = Field(description="Tool called.")
    action: str = Field(description="Action performed or previewed.")
    status: Literal["confirmation_required", "accepted", "completed", "timed_out"] = Field(
        description="confirmation_required: nothing changed, a preview and token were issued; accepted: OpenStack "
                    "accepted the request (the resource may still be transitioning; a follow-up refresh is scheduled); "
                    "completed: the target state was reached (wait=True); timed_out: accepted but the target state "
                    "was not reached within timeout.")
    message: str = Field(description="What happened and what to do next.")
    preview: list[str] = Field(default_factory=list, description="What will happen (or happened) to which resources.")
    targets: list[ResourceState] = Field(default_factory=list,
                                         description="Affected resources: current state (preview) or new state from the refreshed snapshot.")
    confirmation_token: str | None = Field(default=None, description="Pass this back with the same arguments to execute (single use).")
    confirmation_expires_at: datetime | None = Field(default=None, description="When the token expires (UTC).")
    request_ids: list[str] = Field(default_factory=list, description="OpenStack request ids of the write calls.")
    operation_id: int | None = Field(default=None, description="Row id in the operations audit log (get_operation_log).")
    waited_seconds: float | None = Field(default=None, description="How long the call waited for the target state (wait=True).")
    listing: dict[str, Any] | None = Field(default=None,
                                           description="For action 'list': the page of resources from the snapshot (same shape as the matching get_* read tool).")
    output: dict[str, Any] = Field(default_factory=dict,
                                   description="Action-specific values returned once and never stored (e.g. a generated private key).")

    @field_validator("confirmation_expires_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return aware(v)


class OperationEntry(BaseModel):
    id: int = Field(description="Operation id.")
    at: datetime = Field(description="When the call started (UTC).")
    principal: str = Field(description="Caller: local, bearer:<token hash prefix> or http-anonymous.")
    tool: str = Field(description="Management tool.")
    action: str = Field(description="Action asked for.")
    targets: list[dict[str, Any]] = Field(default_factory=list, description="Resolved targets {kind, id, name}.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Arguments, secrets redacted.")
    confirmed: bool = Field(description="Executed with a confirmation token.")
    outcome: str = Field(description="preview, succeeded, timed_out, refused or failed.")
    error: str | None = Field(default=None, description="Why it was refused or failed.")
    request_ids: list[str] = Field(default_factory=list, description="OpenStack request ids.")
    duration_s: float | None = Field(default=None, description="Wall time in seconds.")

    @field_validator("at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return aware(v)


class OperationLog(PageInfo):
    """Management calls, newest first."""

    operations: list[OperationEntry] = Field(description="Audit rows in this window, newest first.")
