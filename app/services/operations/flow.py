"""The one management flow every ``manage_*`` tool runs; tools only declare what differs
(:class:`Action` per action, grouped in a :class:`ManagedTool`).

    validate action and required arguments -> resolve the target in the snapshot
    -> (destructive) preview + token, or consume the token -> blocking SDK call on the pool
    -> targeted refresh of the affected rows -> optional wait (poll + progress) -> bounded background
    follow-up refreshes until the snapshot has converged -> result from the refreshed rows; an audit row
    in every case.

A write whose target answers 404 (it vanished out of band) refreshes that row, so the snapshot stops
showing it live (a targeted refresh tombstones ids whose GET answers 404), and says so.

Callers pass a :class:`Caller` (the app context, the audited principal, a progress sink): services do
not depend on the MCP tool layer; ``app.tools.manage_common.caller(ctx)`` builds one from a tool's
Context.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from app.errors import InvalidArgument, NotFound, OpsError, UpstreamError
from app.services.operations.audit import AuditEntry, AuditLog
from app.services.operations.confirm import ConfirmationStore
from app.services.operations.converge import follow_up, refresh, wait_for_goal
from app.services.operations.models import OperationResult, ResourceState
from app.services.operations.sdkcall import call_sdk
from app.services.operations.targets import Target, check_allowed, load_rows, resolve

if TYPE_CHECKING:
    from app.context import AppContext

MAX_TIMEOUT_S = 1800.0
ERROR_STATES = frozenset({"ERROR", "error", "error_deleting", "error_extending", "error_restoring",
                          "CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "killed"})
NOT_BOUND = ("confirmation_token", "wait", "timeout")   # arguments that do not change *what* is done
# prepare() values named "_..." are facts of the moment (a host's free capacity): shown in the preview and
# seen by check/describe/call, but neither bound to the confirmation token nor audited.
FACT_PREFIX = "_"


Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Caller:
    """Who runs a management call and where its progress goes: the app context, the principal recorded
    in the audit log (``local``, ``bearer:<hash prefix>``), and an optional progress sink
    ``progress(done, total, message)`` (MCP progress notifications)."""

    app: AppContext
    principal: str = "local"
    progress: Progress | None = None

    async def report(self, done: float, total: float | None, message: str | None) -> None:
        if self.progress is not None:
            await self.progress(done, total, message)


@dataclass(frozen=True)
class Call:
    """What an action's blocking ``call`` receives: the SDK connection, the resolved target (None for
    actions without one, e.g. create) and the tool arguments."""

    conn: Any
    target: Target | None
    args: Mapping[str, Any]


def default_created_id(result: Any) -> str:
    rid = result.get("id") if isinstance(result, Mapping) else getattr(result, "id", None)
    if not rid:
        raise UpstreamError("OpenStack accepted the request but returned no ID for the new resource.")
    return str(rid)


@dataclass(frozen=True)
class Action:
    """One action of a management tool.

    * ``kind``: snapshot kind of the affected rows (refreshed and reported).
    * ``call(Call) -> Any``: the blocking openstacksdk call (runs on the SDK pool).
    * ``describe(target, args) -> str``: one preview sentence ("Power off instance web-1 (id)").
    * ``target``: kind to resolve the tool's target parameter against (default ``kind``); None: no target.
      ``target_param``: read the target from this argument instead of the tool's (snapshot create: volume).
    * ``creates``: the affected id is the new resource's (``created_id(result)``), not the target's.
    * ``confirm``: destructive, needs the two-step confirmation (a bool, or a function of the arguments,
      e.g. only for ``reboot_type=HARD``).
    * ``requires``: argument names that must be given; ``check(target, args)`` may raise InvalidArgument.
    * ``prepare(app, target, args) -> {name: value}`` (async, before ``check``): resolves what else the call
      needs (an instance's port, an external network, a file under an allowed directory) or refuses; the
      values are added to the arguments seen by ``check``, ``describe``, ``call``, the confirmation binding
      and the audit row. Names starting with ``_`` are facts of the moment (a target host's free capacity):
      seen by ``check``/``describe``/``call`` only, never bound to the token nor audited.
    * ``goal``: column -> accepted values of the final state (``wait=True``), or a function of the
      arguments returning that (e.g. ``size_gb`` == ``new_size``); or ``gone=True``: the row is tombstoned
      (with a ``goal`` too: gone *or* that state). A status that means gone (Heat's DELETE_COMPLETE) is the
      kind spec's business: such rows are tombstoned by the refresh, so ``gone`` alone is the honest goal.
    * ``output(result) -> dict``: values returned once in the result and never stored or audited.
    * ``also(call, result) -> {kind: [ids]}``: other rows to refresh (e.g. the server of a floating IP);
      ``result`` is None when the call failed with 404 (the rows are refreshed then too).
    * ``settled(app, ids, call) -> bool`` (async): the rows refreshed through ``also`` agree with the
      target's new state in the snapshot (a server's addresses with its floating IP: Nova's cache lags
      behind Neutron). While false after the write, a bounded background follow-up refreshes them.
    * ``note(row, args) -> str | None``: a sentence about the final state worth saying (e.g. a floating IP
      that is mapped but reported DOWN on a cloud without an L3 agent).
    """

    name: str
    kind: str
    call: Callable[[Call], Any]
    describe: Callable[[Target | None, Mapping[str, Any]], str]
    target: str | None = "same"
    target_param: str | None = None
    creates: bool = False
    created_id: Callable[[Any], str] = default_created_id
    confirm: bool | Callable[[Mapping[str, Any]], bool] = False
    requires: tuple[str, ...] = ()
    check: Callable[[Target | None, Mapping[str, Any]], None] | None = None
    prepare: Callable[[AppContext, Target | None, Mapping[str, Any]], Awaitable[Mapping[str, Any]]] | None = None
    goal: Mapping[str, Collection[Any]] | Callable[[Mapping[str, Any]], Mapping[str, Collection[Any]]] = \
        field(default_factory=dict)
    gone: bool = False
    error_states: frozenset[str] = ERROR_STATES
    output: Callable[[Any], dict[str, Any]] | None = None
    also: Callable[[Call, Any], Mapping[str, list[str]]] | None = None
    settled: Callable[[AppContext, list[str], Call], Awaitable[bool]] | None = None
    note: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None

    @property
    def target_kind(self) -> str | None:
        return self.kind if self.target == "same" else self.target

    def needs_confirmation(self, args: Mapping[str, Any]) -> bool:
        return bool(self.confirm(args)) if callable(self.confirm) else self.confirm

    def goal_for(self, args: Mapping[str, Any]) -> Mapping[str, Collection[Any]]:
        return self.goal(args) if callable(self.goal) else self.goal

    def reached(self, row: Mapping[str, Any] | None, args: Mapping[str, Any]) -> bool:
        if self.gone:
            goal = self.goal_for(args)
            return (row is None or row.get("deleted_at") is not None
                    or (bool(goal) and all(row.get(col) in accepted for col, accepted in goal.items())))
        if row is None or row.get("deleted_at") is not None:
            return False
        return all(row.get(col) in accepted for col, accepted in self.goal_for(args).items())

    def errored(self, row: Mapping[str, Any] | None, before: Mapping[str, str | None] | None = None) -> bool:
        """The row is in an error state it was not already in before the call."""
        if row is None or row.get("status") not in self.error_states:
            return False
        return before is None or (before.get(row["id"]) != row.get("status"))


@dataclass(frozen=True)
class ManagedTool:
    """A management tool: its name, what its target is called, the parameter that names it, its
    write actions, and read-only actions the tool answers itself (e.g. ``list``)."""

    name: str
    what: str
    target_param: str
    actions: Mapping[str, Action]
    read_actions: tuple[str, ...] = ()

    @property
    def action_names(self) -> list[str]:
        return [*self.actions, *self.read_actions]

    def unknown(self, action: str) -> InvalidArgument:
        return InvalidArgument(f"Unknown action '{action}' for {self.name}; use one of: "
                               f"{', '.join(self.action_names)}.")

    def audited(self, caller: Caller, action: str, arguments: Mapping[str, Any]) -> Any:
        """Audit context for calls the tool answers itself (read actions)."""
        return AuditLog(caller.app.db, caller.app.cloud_name).audited(caller.principal, self.name, action, arguments)

    async def read(self, caller: Caller, action: str, arguments: Mapping[str, Any],
                   fetch: Callable[[AppContext], Awaitable[Any]]) -> OperationResult:
        """Answer a read action (``list``) from the snapshot with ``fetch(app)`` (a pydantic page), audited."""
        async with self.audited(caller, action, arguments) as entry:
            page = await fetch(caller.app)
            entry.outcome = "succeeded"
            op_id = await entry.commit()
        return OperationResult(tool=self.name, action=action, status="completed", operation_id=op_id,
                               message="Answered from the snapshot (see listing.snapshot for its freshness).",
                               listing=page.model_dump(mode="json"))

    async def run(self, caller: Caller, action: str, arguments: Mapping[str, Any], *,
                  confirmation_token: str | None = None, wait: bool = False, timeout: float = 300.0) -> OperationResult:
        """Execute (or preview) ``action`` with the tool's ``arguments`` (target parameter included)."""
        app, who = caller.app, caller.principal
        audit_args = {**arguments, "wait": wait, "timeout": timeout, "confirmed": bool(confirmation_token)}
        async with AuditLog(app.db, app.cloud_name).audited(who, self.name, action, audit_args) as entry:
            act = self.actions.get(action)
            if act is None:
                raise self.unknown(action)
            if wait and not 1 <= timeout <= MAX_TIMEOUT_S:
                raise InvalidArgument(f"timeout must be between 1 and {MAX_TIMEOUT_S:g} seconds (got {timeout}).")
            missing = [p for p in act.requires if arguments.get(p) in (None, "")]
            if missing:
                raise InvalidArgument(f"Action '{action}' of {self.name} needs {', '.join(missing)}.")
            target = None
            if act.target_kind is not None:
                param = act.target_param or self.target_param
                target = await resolve(app, act.target_kind, arguments.get(param),
                                       what=self.what if act.target_kind == act.kind else None, param=param)
                entry.targets = [{"kind": target.kind, "id": target.id, "name": target.name}]
            check_allowed(app, self.name, action, act.creates, target)  # project-restricted callers
            if act.prepare is not None:
                extra = dict(await act.prepare(app, target, arguments))
                arguments = {**arguments, **extra}
                entry.arguments.update({k: v for k, v in extra.items() if not k.startswith(FACT_PREFIX)})
            if act.check is not None:
                act.check(target, arguments)
            bound = {k: v for k, v in arguments.items() if k not in NOT_BOUND and not k.startswith(FACT_PREFIX)}
            ids = [target.id] if target else []
            if act.needs_confirmation(arguments):
                store = ConfirmationStore(app.db, app.cloud_name, app.settings.confirmation_ttl)
                if not confirmation_token:
                    return await self._preview(store, entry, act, target, arguments, bound, ids, who)
                await store.consume(confirmation_token, self.name, action, bound, ids, who)
                entry.confirmed = True
            return await self._execute(caller, entry, act, target, arguments, wait, timeout)

    async def _preview(self, store: ConfirmationStore, entry: AuditEntry, act: Action, target: Target | None,
                       arguments: Mapping[str, Any], bound: Mapping[str, Any], ids: list[str],
                       who: str) -> OperationResult:
        token, expires = await store.issue(self.name, act.name, bound, ids, who)
        entry.outcome = "preview"
        op_id = await entry.commit()
        ttl = int(store.ttl.total_seconds())
        return OperationResult(
            tool=self.name, action=act.name, status="confirmation_required",
            preview=[act.describe(target, arguments)],
            targets=[state_of(target.kind, target.id, target.row)] if target else [],
            message=(f"Nothing was changed. '{act.name}' is destructive: show the preview to the user and, only with "
                     f"their consent, call {self.name} again with the same arguments and confirmation_token within "
                     f"{ttl} s (single use)."),
            confirmation_token=token, confirmation_expires_at=expires, operation_id=op_id)

    async def _execute(self, caller: Caller, entry: AuditEntry, act: Action, target: Target | None,
                       arguments: Mapping[str, Any], wait: bool, timeout: float) -> OperationResult:
        app = caller.app
        call = Call(conn=app.cloud.write_conn, target=target, args=arguments)
        sentence = act.describe(target, arguments)
        entry.submitted = True
        await entry.begin()
        doing = f"'{act.name}' of {self.what} {target.label() if target else arguments.get(self.target_param) or ''}"
        try:
            result = await call_sdk(app.cloud, act.call, call, doing=doing.rstrip(), request_ids=entry.request_ids)
        except NotFound as e:
            raise _cite(await self._vanished(app, act, call, e), entry.request_ids) from e
        except OpsError as e:  # OpenStack refused: the user gets its request id to look up in the service logs
            raise _cite(e, entry.request_ids) from e
        ids = [act.created_id(result)] if act.creates else ([target.id] if target else [])
        if act.creates:
            entry.targets = [{"kind": act.kind, "id": ids[0], "name": arguments.get(self.target_param)}]
        extra = {k: v for k, v in (act.also(call, result) if act.also else {}).items() if v}
        notes: list[str] = []
        # an error state the target was already in is not this call's failure (e.g. hard reboot of an ERROR server)
        before = {target.id: target.status} if target else {}
        await refresh(app, {act.kind: ids, **extra}, notes)
        status, waited = "accepted", None
        if wait and ids:
            t0 = time.monotonic()
            reached = await wait_for_goal(caller, act, arguments, ids, before, timeout, notes)
            waited = round(time.monotonic() - t0, 2)
            if extra:  # rows that follow the target (a server's addresses) may lag behind it
                await refresh(app, extra, notes)
            status = "completed" if reached else "timed_out"
        if ids:
            await follow_up(app, act, call, ids, extra, before, notes, settle_only=status == "completed")
        rows = await load_rows(app, act.kind, ids)
        bad = [i for i in ids if act.errored(rows[i], before)]
        if bad:
            raise UpstreamError(f"OpenStack accepted '{act.name}' but {', '.join(bad)} went to "
                                f"{rows[bad[0]].get('status')}; check the resource's fault and the OpenStack logs.")
        if act.note is not None:
            notes.extend(n for n in (act.note(rows[i], arguments) for i in ids if rows[i] is not None) if n)
        entry.outcome = "timed_out" if status == "timed_out" else "succeeded"
        op_id = await entry.commit()
        msg = {"accepted": "OpenStack accepted the request; the state below is the refreshed snapshot (it may still "
                           "be transitioning; follow-up refreshes are scheduled, or pass wait=true).",
               "completed": "Done: the target state was reached.",
               "timed_out": f"OpenStack accepted the request but the target state was not reached within {timeout:g} s; "
                            "check again later."}[status]
        return OperationResult(
            tool=self.name, action=act.name, status=status, message=" ".join([msg, *dict.fromkeys(notes)]), preview=[sentence],
            targets=[state_of(act.kind, i, rows[i]) for i in ids], request_ids=list(entry.request_ids),
            operation_id=op_id, waited_seconds=waited, output=act.output(result) if act.output else {})

    async def _vanished(self, app: AppContext, act: Action, call: Call, err: NotFound) -> NotFound:
        """OpenStack answered 404 to the write: refresh the target (and the rows around it), so a target that
        vanished out of band is tombstoned instead of staying live in the snapshot; say which it was."""
        target = call.target
        if target is None:
            return err
        notes: list[str] = []
        extra = {k: v for k, v in (act.also(call, None) if act.also else {}).items() if v}
        await refresh(app, {target.kind: [target.id], **extra}, notes)
        row = (await load_rows(app, target.kind, [target.id]))[target.id]
        if row is None or row.get("deleted_at") is not None:
            more = (f"The {self.what} {target.label()} no longer exists in OpenStack (it was removed by someone "
                    "else); the snapshot now shows it as deleted.")
        else:
            more = (f"The {self.what} {target.label()} itself still exists (status {row.get('status') or '-'}); "
                    "something it refers to is gone. Its snapshot row was refreshed.")
        return NotFound(" ".join([err.message, more, *notes]))


def _cite(err: OpsError, request_ids: list[str]) -> OpsError:
    """``err`` naming the OpenStack request ids of the refused write (unless it already does)."""
    missing = [r for r in request_ids if r not in err.message]
    if missing:
        err.message = f"{err.message} (OpenStack request id {', '.join(missing)})"
        err.args = (err.message,)
    return err


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (datetime, date)) else v


def state_of(kind: str, rid: str, row: Mapping[str, Any] | None) -> ResourceState:
    if row is None:
        return ResourceState(kind=kind, id=rid, deleted=True)
    name = row.get("name") or row.get("floating_ip_address")
    return ResourceState(kind=kind, id=rid, name=name, status=row.get("status"),
                         deleted=row.get("deleted_at") is not None,
                         fields={k: _jsonable(v) for k, v in row.items() if k not in ("id", "name", "deleted_at")})
