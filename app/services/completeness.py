"""Whether a report's figures are facts, and if not, why: the ``complete`` / ``incomplete`` / ``summary``
fields of get_cluster_status, monitor_resources and get_service_status, and /readyz's reasons.

A kind's figures are facts (as of its ``as_of``, maybe stale) once one full listing of it succeeded.
Before that they are not: while the first sync runs, the rows already written are real but the totals
are partial; when every first attempt failed (wrong password, unreachable auth URL) the reason is the
OpenStack error the run recorded; a kind that is ``unavailable`` (e.g. admin-only, no admin rights) will
stay unknown. Each such kind is reported with that state and reason, never as zero and never scored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.services.models import SnapshotInfo

State = Literal["syncing", "failed", "unavailable"]
REASON_MAX = 240
_ORDER = {"failed": 0, "unavailable": 1, "syncing": 2}


class IncompleteKinds(BaseModel):
    """Kinds whose figures are not facts yet, grouped by state and reason."""

    state: State = Field(description="syncing: the first sync has not finished (totals so far are partial); failed: "
                                      "every sync so far failed (see reason); unavailable: OpenStack refuses this "
                                      "kind to our account (e.g. admin-only).")
    kinds: list[str] = Field(description="The kinds in this state.")
    reason: str = Field(description="Why, in OpenStack's words when it answered (the sync run's recorded error).")


class Completeness(BaseModel):
    complete: bool
    incomplete: list[IncompleteKinds]
    summary: str


# "... while listing floatingips: <cause>" -> "...: <cause>": kinds failing for one cause share one reason.
_WHILE = re.compile(r" while (?:listing|discovering|reading|getting) [^\s:.]+(?: [^\s:.]+)?(?=[:.])")


def _reason(kind: Any) -> str:
    if kind.last_error:
        text = _WHILE.sub("", " ".join(str(kind.last_error).split()))
        return text if len(text) <= REASON_MAX else text[:REASON_MAX - 3] + "..."
    if kind.status == "unavailable":
        return "OpenStack does not offer this kind to the polling account."
    return "The first sync has not finished yet."


def kind_state(kind: Any) -> State | None:
    """The state of one ``snapshot.kinds`` entry, or None when its figures are facts (ok, stale, or a
    later sync failed after a first success)."""
    if kind.status == "unavailable":
        return "unavailable"
    if kind.status == "never_synced":
        return "failed" if kind.last_error else "syncing"
    return None


def incomplete_kinds(snapshot: SnapshotInfo) -> dict[str, State]:
    return {k.kind: s for k in snapshot.kinds if (s := kind_state(k)) is not None}


def assess(snapshot: SnapshotInfo, *, rows_so_far: Mapping[str, int] | None = None,
           what: str = "figures") -> Completeness:
    """``complete``, the grouped reasons, and a one-line summary (``what``: the figures concerned, e.g.
    "counts"). ``rows_so_far``: live rows already in the snapshot per incomplete kind."""
    groups: dict[tuple[str, str], list[str]] = {}
    for k in snapshot.kinds:
        state = kind_state(k)
        if state is not None:
            groups.setdefault((state, _reason(k)), []).append(k.kind)
    incomplete = [IncompleteKinds(state=s, kinds=sorted(kinds), reason=r)  # type: ignore[arg-type]
                  for (s, r), kinds in sorted(groups.items(), key=lambda g: (_ORDER[g[0][0]], g[0][1]))]
    return Completeness(complete=not incomplete, incomplete=incomplete,
                        summary=summary(incomplete, snapshot, rows_so_far or {}, what))


def _names(kinds: Iterable[str], rows: Mapping[str, int], limit: int = 6) -> str:
    kinds = list(kinds)
    shown = [f"{k} ({rows[k]} so far)" if rows.get(k) else k for k in kinds[:limit]]
    more = f" and {len(kinds) - limit} more" if len(kinds) > limit else ""
    return ", ".join(shown) + more


def summary(incomplete: list[IncompleteKinds], snapshot: SnapshotInfo, rows: Mapping[str, int], what: str) -> str:
    """One short line: per state, the kinds and (failed, unavailable) the first reason."""
    if not incomplete:
        if snapshot.stale:
            bad = [k.kind for k in snapshot.kinds if k.status != "ok"]
            since = f" as of {snapshot.as_of:%Y-%m-%d %H:%M:%S} UTC" if snapshot.as_of else ""
            return (f"Complete{since}, but stale or failing: {_names(bad, {})} (see snapshot.kinds).")
        return "Complete: every kind used has synced."
    by_state: dict[str, list[IncompleteKinds]] = {}
    for g in incomplete:
        by_state.setdefault(g.state, []).append(g)
    parts = []
    for state, groups in by_state.items():
        kinds = [k for g in groups for k in g.kinds]
        if state == "syncing":
            parts.append(f"first sync still running for {_names(kinds, rows)}: their {what} are partial")
        elif state == "failed":
            parts.append(f"no sync has succeeded yet for {_names(kinds, rows)}: {groups[0].reason.rstrip('.')}")
        else:
            parts.append(f"unavailable to this account: {_names(kinds, rows)} ({groups[0].reason.rstrip('.')})")
    return "Incomplete: " + "; ".join(parts)


def readiness_reasons(per_kind: Mapping[str, Any], stale_core: Iterable[str], ready: bool) -> dict[str, Any]:
    """/readyz's ``reason`` (one line) and ``reasons`` (per state: kinds and the OpenStack error their runs
    recorded) from :func:`app.sync.freshness.kinds_freshness` output."""
    from app.context import to_snapshot_info
    from app.sync import freshness as fresh

    verdict = assess(to_snapshot_info(fresh.combine(per_kind)))
    reasons: list[dict[str, Any]] = [{"state": g.state, "kinds": g.kinds, "error": g.reason}
                                     for g in verdict.incomplete if g.state != "unavailable"]
    for k in stale_core:
        f = per_kind[k]
        if f.never_synced:
            continue  # already above
        why = (f"last sync failed: {f.last_error}" if f.last_error else
               f"last successful sync {f.age_seconds or 0:.0f}s ago (poll interval {f.interval_seconds:.0f}s)")
        reasons.append({"state": "stale", "kinds": [k], "error": why[:REASON_MAX]})
    if ready:
        reason = "ready"
    elif any(r["state"] != "stale" for r in reasons):
        reason = verdict.summary
    elif reasons:
        reason = "stale: " + "; ".join(f"{r['kinds'][0]}: {r['error']}" for r in reasons)
    else:
        reason = "not ready (see the other fields)"
    return {"reason": reason[:3 * REASON_MAX], "reasons": reasons}
