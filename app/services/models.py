"""Result models shared by read tools: the ``snapshot`` freshness block and the paging fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

CLIP = 60


def clip(value: Any, n: int = CLIP) -> str:
    """``repr`` of user input cut to a short prefix, for messages and answers that quote it (a term
    of any length must not make an answer long)."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:n]) + (f"... ({len(text)} characters)" if len(text) > n else "")


def schema_bounds(minimum: float | None = None, maximum: float | None = None) -> dict[str, Any]:
    """``json_schema_extra`` publishing a numeric argument's bounds (``minimum``/``maximum``) in the
    tool's input schema while the service keeps checking them itself, with a message that says what
    to send instead (pydantic's own ``ge``/``le`` would answer with a bare validation error)."""
    out: dict[str, Any] = {}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


class KindFreshness(BaseModel):
    kind: str = Field(description="Resource kind, e.g. servers.")
    as_of: datetime | None = Field(description="When the last successful sync of this kind finished (UTC); null if never.")
    age_seconds: float | None = Field(description="Seconds since as_of; null if never synced.")
    stale: bool = Field(description="Older than twice its poll interval, or its last sync failed.")
    status: str = Field(description="ok, stale, never_synced, failed or unavailable.")
    last_error: str | None = Field(default=None, description="Error of the most recent failed run, if any.")


class SnapshotInfo(BaseModel):
    """How fresh the answer is. Every read result carries one."""

    cloud: str | None = Field(default=None, description="The cloud this answer is about: its label (OPS_CLOUDS entry "
                                                         "or the one cloud's label; the `cloud` argument of tools).")
    as_of: datetime | None = Field(description="Oldest as_of among the kinds this answer used (UTC).")
    age_seconds: float | None = Field(description="Age of the oldest kind used, in seconds.")
    stale: bool = Field(description="True if any kind used is stale, failed, unavailable or never synced.")
    missing: list[str] = Field(default_factory=list, description="Kinds used that have never been synced (their data is absent, not zero).")
    kinds: list[KindFreshness] = Field(default_factory=list, description="Per-kind freshness of the kinds used.")
    superseded: bool = Field(default=False, description="True: the snapshot holds newer data than this answer, "
                                                        "which was kept from before the latest sync and is being "
                                                        "computed again; as_of is the data it was computed from. "
                                                        "Call again in a few seconds for the newest.")


class PageInfo(BaseModel):
    total: int = Field(description="Rows matching the query in the snapshot.")
    returned: int = Field(description="Rows in this response.")
    offset: int = Field(description="Offset of this window.")
    limit: int = Field(description="Maximum rows per response.")
    has_more: bool = Field(description="True if rows remain after this window (call again with offset + returned).")
    truncated: bool = Field(default=False, description="True when fewer than `limit` rows were returned to keep the "
                                                       "answer within its size budget (docs/answers.md); the rest "
                                                       "starts at next_offset.")
    next_offset: int | None = Field(default=None, description="Offset of the next page (offset + returned); null when "
                                                              "nothing remains.")

    @classmethod
    def of(cls, total: int, returned: int, offset: int, limit: int) -> PageInfo:
        more = offset + returned < total
        return cls(total=total, returned=returned, offset=offset, limit=limit, has_more=more,
                   next_offset=offset + returned if more else None)
