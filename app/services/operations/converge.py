"""After a management write: bring the snapshot up to date (the third part of the flow in
:mod:`app.services.operations.flow`): a targeted refresh of the affected rows (:func:`refresh`), the
optional wait polling the target until its goal or an error state (:func:`wait_for_goal`), and the
bounded background follow-ups until the snapshot has converged (:func:`follow_up`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.errors import OpsError
from app.services.operations.background import FollowUp
from app.services.operations.targets import load_rows

if TYPE_CHECKING:
    from app.context import AppContext
    from app.services.operations.flow import Action, Call, Caller

log = logging.getLogger(__name__)

# Background follow-ups (module attributes: tests may change them). After an un-waited write (or a wait
# that timed out): refreshes until the target reaches its goal (or an error state) and the rows that
# follow it agree, ~2 min in all. After a completed wait whose following rows still lag (a server's
# addresses behind its floating IP: Nova's network info cache): ~1 min of backoff.
FOLLOWUP_DELAYS: tuple[float, ...] = (5.0, 5.0, 10.0, 20.0, 30.0, 60.0)
SETTLE_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
POLL_MIN_S, POLL_MAX_S = 0.25, 3.0


async def refresh(app: AppContext, affected: Mapping[str, list[str]], notes: list[str]) -> None:
    for kind, ids in affected.items():
        try:
            await app.sync.refresh(kind, ids)
        except OpsError as e:  # the write itself succeeded: say the snapshot lags, do not fail the call
            notes.append(f"(Refreshing the snapshot of {kind} failed: {e.message}; the poller will catch up.)")


async def wait_for_goal(caller: Caller, act: Action, args: Mapping[str, Any], ids: list[str],
                before: Mapping[str, str | None], timeout: float, notes: list[str]) -> bool:
    """Targeted refresh in a loop until every id reached the goal (or an error state), or timeout."""
    app = caller.app
    t0 = time.monotonic()
    delay = POLL_MIN_S
    while True:
        rows = await load_rows(app, act.kind, ids)
        done = [i for i in ids if act.reached(rows[i], args)]
        elapsed = time.monotonic() - t0
        states = ", ".join(f"{i[:8]}: {(rows[i] or {}).get('status') or 'gone'}" for i in ids)
        await caller.report(min(elapsed, timeout), timeout, f"{len(done)}/{len(ids)} done ({states})")
        if len(done) == len(ids) or any(act.errored(rows[i], before) for i in ids):
            return len(done) == len(ids)
        if elapsed >= timeout:
            return False
        await asyncio.sleep(min(delay, max(0.0, timeout - elapsed)))
        delay = min(delay * 1.5, POLL_MAX_S)
        await refresh(app, {act.kind: ids}, notes)


async def follow_up(app: AppContext, act: Action, call: Call, ids: list[str], extra: Mapping[str, list[str]],
                     before: Mapping[str, str | None], notes: list[str], *, settle_only: bool) -> None:
    """Schedule background refreshes until the snapshot has converged, unless it already has.

    ``settle_only`` (the wait reached the goal): only the rows that follow the target are left (``settled``);
    otherwise (accepted, timed out) also the target itself, until its goal or an error state."""
    async def followers_agree() -> bool:
        return act.settled is None or await act.settled(app, ids, call)

    async def converged() -> bool:
        if not settle_only:
            rows = await load_rows(app, act.kind, ids)
            if not all(act.reached(rows[i], call.args) or act.errored(rows[i], before) for i in ids):
                return False
        return await followers_agree()

    # After a completed wait only lagging followers need more; otherwise at least one refresh follows (a
    # status that may still move, e.g. a floating IP mapped while DOWN becomes ACTIVE where an L3 agent runs).
    if settle_only and await followers_agree():
        return
    affected = dict(extra) if settle_only else {act.kind: ids, **extra}
    if settle_only:
        notes.append("(The rows that follow it, e.g. the instance's addresses, still show the old state: OpenStack "
                     "updates them a little later; background refreshes follow up until they agree.)")

    async def step() -> None:
        step_notes: list[str] = []
        await refresh(app, affected, step_notes)
        for n in step_notes:
            log.info("follow-up refresh: %s", n)

    tasks = getattr(app, "tasks", None)
    if tasks is not None:
        tasks.follow_up(FollowUp(name=f"{act.kind}:{act.name}:{','.join(i[:8] for i in ids)}", step=step,
                                 settled=converged, delays=SETTLE_DELAYS if settle_only else FOLLOWUP_DELAYS))
