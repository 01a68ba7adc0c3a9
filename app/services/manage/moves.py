"""manage_instance's moves: resize (then confirm_resize or revert_resize), cold migrate and live migrate.

The preview of a move checks the destination first, with the capacity planner
(:func:`app.services.planning.plan_capacity`, count 1: Placement inventories and usages, else the
hypervisor's own fields; disabled, down and forced-down compute services excluded with their reason)
and shows the target host's free VCPU / RAM / disk against what the flavor needs. It refuses before
anything is sent when the named target host cannot take the instance (no room, disabled, down,
unknown) or the flavor is unknown or disabled; without a named host (the scheduler picks) it refuses
only when no eligible host has room. The capacity is re-checked when the confirmed call executes
(a fact of the moment: ``_capacity`` is shown, never bound to the token).

Nova's state machine: resize and cold migrate go RESIZE -> VERIFY_RESIZE (the old copy is kept on the
source until ``confirm_resize``; ``revert_resize`` goes back), live migrate MIGRATING -> ACTIVE on the
new host. A move the scheduler or the compute host rejects after accepting it leaves the instance idle
where it was: the result says so (``note``), and get_instance_actions shows the failed event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from app.errors import Conflict, InvalidArgument, NotFound
from app.resources.hypervisors import table as hypervisors
from app.services.operations import Action, Call, Target
from app.services.planning import CapacityPlan, HostFit, plan_capacity
from app.services.query import close_matches, live

if TYPE_CHECKING:
    from app.context import AppContext

IDLE = (None,)
SETTLED = ("ACTIVE", "SHUTOFF", "PAUSED")
# resize / cold migrate end in VERIFY_RESIZE; one the scheduler rejected ends idle where it was (see note)
MOVED_GOAL = {"status": ("VERIFY_RESIZE", *SETTLED), "task_state": IDLE}
TOP_HOSTS = 3


def _label(t: Target | None) -> str:
    return t.label() if t else "?"


def _flavor_of(row: Mapping[str, Any]) -> str | None:
    return row.get("flavor_id") or row.get("flavor_name")


def _need(plan: CapacityPlan) -> str:
    f = plan.flavor
    return f"{f.name or f.id} ({', '.join(f'{k} {v}' for k, v in f.request.items())})"


def _n(v: float | None) -> str:
    return "?" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")


def _host_room(h: HostFit) -> str:
    """'compute2 [placement]: VCPU needs 2, free 62 of 64; MEMORY_MB needs 2048, free ...; room for 7'."""
    parts = []
    for r in h.resources:
        if r.free is None:
            parts.append(f"{r.resource_class} needs {r.requested}, free unknown ({r.blocker})")
        else:
            parts.append(f"{r.resource_class} needs {r.requested}, free {_n(r.free)} of {_n(r.capacity)}")
    room = "room unknown" if h.fits is None else f"room for {h.fits} more"
    return f"{h.host or h.hypervisor_hostname} [{h.capacity_source or 'no capacity data'}]: {'; '.join(parts)}; {room}"


async def _known_host(app: AppContext, host: str) -> str:
    """The nova-compute host name of ``host`` (a host or hypervisor name), or NotFound with close matches."""
    h = hypervisors
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(h.c.host, h.c.hypervisor_hostname).where(
            live(h, app.cloud_name), or_(h.c.host == host, h.c.hypervisor_hostname == host)))).all()
        if rows:
            return str(rows[0].host or host)
        names = (await conn.execute(select(h.c.host, h.c.hypervisor_hostname).where(live(h, app.cloud_name)))).all()
    known = sorted({n for r in names for n in r if n})
    raise NotFound(f"No compute host '{host}' in the snapshot; target_host takes a host name as "
                   f"get_hypervisor_list shows it (known: {', '.join(known[:10]) or 'none'}). Nothing was changed.",
                   close_matches(host, known))


async def _plan(app: AppContext, target: Target, flavor: str, host: str | None) -> CapacityPlan:
    return await plan_capacity(app, flavor=flavor, count=1, availability_zone=None, hosts=host,
                               boot_from_volume=not target.row.get("image_id"), limit=50, offset=0)


async def _source_plan(app: AppContext, target: Target, flavor: str, source: str | None) -> CapacityPlan | None:
    """The plan for the host the instance is on (to leave it out of the scheduler's choice), if the snapshot
    knows that host."""
    try:
        return await _plan(app, target, flavor, source) if source else None
    except NotFound:  # the flavor resolved a moment ago: the host is not a hypervisor in the snapshot
        return None


async def room(app: AppContext, target: Target, flavor: str, host: str | None, *, resize: bool) -> dict[str, Any]:
    """The capacity facts of a move of ``target`` with ``flavor`` to ``host`` (None: the scheduler picks),
    or a refusal (Conflict: cannot fit / excluded; InvalidArgument: disabled flavor)."""
    source = target.row.get("host")
    what = f"The flavor {'to resize to' if resize else 'of instance ' + _label(target)}"
    if host is not None:
        host = await _known_host(app, host)
        if host == source:
            raise InvalidArgument(f"Instance {_label(target)} already runs on {host}; name another target_host "
                                  "(or omit it to let the scheduler choose). Nothing was changed.")
    try:
        plan = await _plan(app, target, flavor, host)
    except NotFound as e:
        raise NotFound(f"{what}: {e.message} Nothing was changed.") from e
    if resize and (plan.flavor.id == target.row.get("flavor_id") or plan.flavor.name == target.row.get("flavor_name")):
        raise InvalidArgument(f"Instance {_label(target)} already has flavor {plan.flavor.name or plan.flavor.id}; "
                              "a resize must change the flavor. Nothing was changed.")
    if plan.flavor.is_disabled:
        raise InvalidArgument(f"Flavor {plan.flavor.name or plan.flavor.id} is disabled: Nova refuses moves to it. "
                              "Nothing was changed.")
    need = _need(plan)
    resized = {"flavor_id": plan.flavor.id} if resize else {}
    if host is not None:
        if not plan.hosts:
            reason = plan.excluded[0].reason if plan.excluded else "not an eligible compute host"
            raise Conflict(f"{host} cannot take instance {_label(target)}: {reason}. Nothing was changed; pick another "
                           "target_host (plan_capacity lists hosts with room) or omit it to let the scheduler choose.")
        h = plan.hosts[0]
        if h.fits == 0:
            raise Conflict(f"{host} has no room for instance {_label(target)} with {need}: {h.limited_by} runs out "
                           f"({_host_room(h)}). Nothing was changed; pick another target_host (plan_capacity lists "
                           "hosts with room) or omit it to let the scheduler choose.")
        return {"_capacity": f"Target {_host_room(h)}.", "target_host": host, **resized}
    src = await _source_plan(app, target, flavor, source)
    src_fits = (src.hosts[0].fits or 0) if src and src.hosts else 0
    src_unknown = 1 if src and src.hosts and src.hosts[0].fits is None else 0
    others, unknown = plan.fits_total - src_fits, plan.hosts_unknown - src_unknown
    same_host_only = resize and others <= 0 and unknown <= 0 and (src_fits > 0 or src_unknown > 0)
    if others <= 0 and unknown <= 0 and not same_host_only:
        excluded = f"; {plan.excluded_total} host(s) excluded ({plan.excluded[0].reason}, ...)" if plan.excluded else ""
        raise Conflict(f"No {'' if resize else 'other '}enabled, up compute host has room for instance "
                       f"{_label(target)} with {need} ({plan.eligible_hosts} eligible host(s){excluded}; "
                       f"first to run out: {plan.limited_by or 'unknown'}). Nothing was changed; free capacity "
                       "first (plan_capacity shows where).")
    top = [h for h in plan.hosts if h.fits and h.host != source][:TOP_HOSTS]
    text = (f"The scheduler picks the host: eligible hosts other than {source or '-'} have room for {max(others, 0)} "
            f"more with {need}" + (f" (and {unknown} host(s) of unknown capacity)" if unknown > 0 else "") + "."
            + (" Most room: " + "; ".join(_host_room(h) for h in top) + "." if top else ""))
    if same_host_only:
        text += (f" Only the current host {source} has room: this works only where Nova allows resizing to the "
                 "same host (allow_resize_to_same_host).")
    return {"_capacity": text, **resized}


def _state(t: Target | None) -> str:
    r = t.row if t else {}
    task = r.get("task_state")
    return (f"{t.status if t else '?'}{f' ({task})' if task else ''}, host {r.get('host') or '-'}, "
            f"flavor {r.get('flavor_name') or r.get('flavor_id') or '-'}")


# ---------------------------------------------------------------------------------------------
# prepare / call per action


def _origin(t: Target | None) -> dict[str, Any]:
    r = t.row if t else {}
    return {"source_host": r.get("host"), "from_flavor": r.get("flavor_name") or r.get("flavor_id")}


async def _prepare_resize(app: AppContext, t: Target | None, args: Mapping[str, Any]) -> Mapping[str, Any]:
    assert t is not None
    return {**_origin(t), **await room(app, t, str(args.get("flavor") or "").strip(), None, resize=True)}


async def _prepare_move(app: AppContext, t: Target | None, args: Mapping[str, Any]) -> Mapping[str, Any]:
    assert t is not None
    flavor = _flavor_of(t.row)
    if not flavor:
        raise NotFound(f"The snapshot does not know the flavor of instance {t.label()}, so its needs on the target "
                       "host cannot be checked. Nothing was changed; retry after the next sync.")
    host = str(args.get("target_host") or "").strip() or None
    return {**_origin(t), **await room(app, t, flavor, host, resize=False)}


def _sdk_version_guard(fn: Any, *a: Any, **kw: Any) -> Any:
    try:
        return fn(*a, **kw)
    except ValueError as e:  # openstacksdk: the cloud's compute API is too old for an option we pass
        raise InvalidArgument(f"This cloud's compute API cannot do that: {e}") from e


def _resize(c: Call) -> Any:
    return c.conn.compute.resize_server(c.target.id, c.args["flavor_id"])  # type: ignore[union-attr]


def _migrate(c: Call) -> Any:
    host = c.args.get("target_host") or None
    return _sdk_version_guard(c.conn.compute.migrate_server, c.target.id, host=host)  # type: ignore[union-attr]


def _live_migrate(c: Call) -> Any:
    host = c.args.get("target_host") or None
    return _sdk_version_guard(c.conn.compute.live_migrate_server, c.target.id,  # type: ignore[union-attr]
                              host=host, force=False, block_migration="auto")


def _where(args: Mapping[str, Any]) -> str:
    return str(args.get("target_host") or "a host the scheduler picks")


def _capacity(args: Mapping[str, Any]) -> str:
    return f" {args['_capacity']}" if args.get("_capacity") else ""


def _stayed(row: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """A move OpenStack accepted that left the instance idle where it was: it failed after the API call."""
    if row.get("task_state") is not None or row.get("status") not in SETTLED:
        return None
    same_host = row.get("host") == args.get("source_host")
    same_flavor = args.get("flavor_id") is None or (row.get("flavor_name") or row.get("flavor_id")) == args.get("from_flavor")
    if same_host and same_flavor:
        return (f"The instance is still {row.get('status')} on {row.get('host') or '-'} with flavor "
                f"{args.get('from_flavor') or '-'}: Nova accepted the request but the move failed or was "
                "rejected by the scheduler; get_instance_actions shows the failed event and its message.")
    return None


def _describe_resize(t: Target | None, a: Mapping[str, Any]) -> str:
    return (f"Resize instance {_label(t)} from flavor {a.get('from_flavor') or '-'} to {a.get('flavor')}: the guest is "
            f"restarted (on {_where(a)}); it ends in VERIFY_RESIZE, then confirm_resize keeps the new size or "
            f"revert_resize goes back (now {_state(t)}).{_capacity(a)}")


def _describe_migrate(t: Target | None, a: Mapping[str, Any]) -> str:
    return (f"Cold-migrate instance {_label(t)} from {a.get('source_host') or '-'} to {_where(a)}: the guest is shut "
            "down and started again there; it ends in VERIFY_RESIZE, then confirm_resize (or revert_resize to go "
            f"back) (now {_state(t)}).{_capacity(a)}")


def _describe_live(t: Target | None, a: Mapping[str, Any]) -> str:
    return (f"Live-migrate instance {_label(t)} from {a.get('source_host') or '-'} to {_where(a)} (block_migration "
            "auto: the disk is copied when the hosts share no storage); the guest keeps running, with a short pause "
            f"at the switch-over (now {_state(t)}).{_capacity(a)}")


MOVE_ACTIONS = {
    "resize": Action(
        name="resize", kind="servers", confirm=True, requires=("flavor",), prepare=_prepare_resize, call=_resize,
        describe=_describe_resize, goal=MOVED_GOAL, note=_stayed),
    "confirm_resize": Action(
        name="confirm_resize", kind="servers",
        call=lambda c: c.conn.compute.confirm_server_resize(c.target.id),
        describe=lambda t, _a: (f"Confirm the resize or migration of instance {_label(t)}: the copy kept on the "
                                f"source host is deleted and revert_resize is no longer possible (now {_state(t)})."),
        goal={"status": SETTLED, "task_state": IDLE}),
    "revert_resize": Action(
        name="revert_resize", kind="servers", confirm=True,
        call=lambda c: c.conn.compute.revert_server_resize(c.target.id),
        describe=lambda t, _a: (f"Revert the resize or migration of instance {_label(t)}: back to its previous flavor "
                                "and host; what the guest wrote to its disk since the resize is lost "
                                f"(now {_state(t)})."),
        goal={"status": SETTLED, "task_state": IDLE}),
    "migrate": Action(
        name="migrate", kind="servers", confirm=True, prepare=_prepare_move, call=_migrate,
        describe=_describe_migrate, goal=MOVED_GOAL, note=_stayed),
    "live_migrate": Action(
        name="live_migrate", kind="servers", confirm=True, prepare=_prepare_move, call=_live_migrate,
        describe=_describe_live, goal={"status": SETTLED, "task_state": IDLE}, note=_stayed),
}

