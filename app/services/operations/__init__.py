"""Management operations: the safe write path shared by every ``manage_*`` tool.

A tool declares what differs and calls one flow::

    from app.services.operations import Action, Call, ManagedTool

    INSTANCE = ManagedTool(
        name="manage_instance", what="instance", target_param="instance_name",
        actions={"stop": Action(
            name="stop", kind="servers", confirm=True, goal={"status": ("SHUTOFF",)},
            call=lambda c: c.conn.compute.stop_server(c.target.id),          # blocking, runs on the SDK pool
            describe=lambda t, a: f"Power off instance {t.label()}, now {t.status}.")},
        read_actions=("list",))

    result = await INSTANCE.run(Caller(app, principal, progress), action, {"instance_name": instance_name, ...},
                                confirmation_token=confirmation_token, wait=wait, timeout=timeout)

(tools build the :class:`Caller` from their MCP Context with ``app.tools.manage_common.caller(ctx)``).

API
---
``ManagedTool(name, what, target_param, actions, read_actions=())``
    ``await .run(caller, action, arguments, *, confirmation_token=None, wait=False, timeout=300.0) -> OperationResult``
    validates the action (unknown -> InvalidArgument listing the actions) and ``Action.requires``,
    resolves ``arguments[target_param]`` (unless ``Action.target is None``), runs ``Action.check``; for
    ``Action.confirm`` returns a preview + token first (status ``confirmation_required``) and executes
    only with a valid token; then runs ``Action.call(Call(conn, target, args))`` through
    ``app.cloud.run`` (errors -> ``app.errors``; request ids collected), refreshes the affected rows
    (``app.sync.refresh``), with ``wait`` polls (targeted refresh + ``caller.progress``) until
    ``Action.goal``/``gone`` or ``timeout``; then, unless the snapshot has converged (goal or error state
    reached, ``Action.settled`` true), bounded background follow-up refreshes with backoff
    (``FOLLOWUP_DELAYS``, or ``SETTLE_DELAYS`` for rows that lag behind a completed target; tasks in
    ``app.tasks``, see ``converge.py`` and ``background.py``); reports the refreshed rows. A 404 from the write refreshes the
    target (tombstoning a row that vanished out of band) and says which it was. Audits every call.
    ``await .read(caller, action, arguments, fetch)``: a read action (``list``) answered by
    ``await fetch(app)`` (a pydantic page, returned in ``OperationResult.listing``), audited;
    ``.audited(caller, action, arguments)``: the bare audit context; ``.unknown(action)``: the
    InvalidArgument for an unknown action.
``Caller(app, principal="local", progress=None)``: who calls (audited principal) and the progress sink.
``Action(name, kind, call, describe, target="same", target_param=None, creates=False, created_id=..., confirm=False | fn(args),
requires=(), check=None, prepare=None, goal={} | fn(args), gone=False, error_states=ERROR_STATES, output=None,
also=None, settled=None, note=None)``
    see :class:`app.services.operations.flow.Action`. ``output(result)`` values are returned once in
    ``OperationResult.output`` and never stored or audited (private keys).
``await resolve(app, kind, ref, *, what=None, param="name") -> Target``
    exact ID or exact name among live rows; Conflict (ambiguous, lists id/status/project), NotFound
    (close matches). ``Target(kind, id, name, row)``; ``.status``, ``.project_id``, ``.label()``.
``await load_rows(app, kind, ids) -> {id: row | None}``; ``state_of(kind, id, row) -> ResourceState``.
``ConfirmationStore(db, cloud, ttl_seconds)``: ``await .issue(tool, action, args, target_ids, principal)
-> (token, expires_at)``, ``await .consume(token, tool, action, args, target_ids, principal)`` (raises
NotPermitted: unknown, reused, expired, other tool/action/arguments/targets; single use is atomic).
``AuditLog(db, cloud)``: ``.audited(principal, tool, action, arguments)`` (read back by
app/services/operation_log.py); ``redact(arguments)``.
``await call_sdk(cloud, fn, *args, doing=..., request_ids=list)``: one blocking SDK call collecting
OpenStack request ids.
``check_allowed_file(path, dirs, setting=..., max_bytes=...) -> AllowedFile`` and ``open_allowed(f)``
(``paths.py``): local files an action may read, only under operator-allowed directories.

Results: :class:`OperationResult` (status confirmation_required | accepted | completed | timed_out,
message, preview, targets: [ResourceState], confirmation_token, confirmation_expires_at, request_ids,
operation_id, waited_seconds, output, listing: a page for tools' read actions). Tables (``tables.py``, migration 0004): ``operations``,
``confirmation_tokens``.
"""

from app.services.operations.audit import AuditEntry, AuditLog, redact
from app.services.operations.confirm import ConfirmationStore
from app.services.operations.flow import ERROR_STATES, Action, Call, Caller, ManagedTool, state_of
from app.services.operations.models import OperationEntry, OperationLog, OperationResult, ResourceState
from app.services.operations.sdkcall import call_sdk
from app.services.operations.targets import Target, load_rows, resolve

__all__ = [
    "ERROR_STATES", "Action", "AuditEntry", "AuditLog", "Call", "Caller", "ConfirmationStore", "ManagedTool",
    "OperationEntry", "OperationLog", "OperationResult", "ResourceState", "Target", "call_sdk", "load_rows",
    "redact", "resolve", "state_of",
]
