"""Target resolution against the snapshot, generic over kinds: an exact ID or an exact name among live
rows. Several rows with that name -> ``Conflict`` listing every candidate (id, status, project); none
-> ``NotFound`` with close matches. Never a guess. An ID-shaped reference missing from the snapshot is
checked once with a targeted refresh (the resource may be newer than the last poll)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, or_, select

from app.errors import Conflict, InvalidArgument, NotFound, NotPermitted, OpsError, UpstreamError
from app.services.query import close_matches, live
from app.services.scope import restrict, scoped_kind

if TYPE_CHECKING:
    from app.context import AppContext

# Column(s) a kind is named by, when not ``name``.
NAME_COLUMNS: dict[str, tuple[str, ...]] = {"floating_ips": ("floating_ip_address",)}
ID_LIKE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
MAX_CANDIDATES = 20
HIDDEN_COLUMNS = {"cloud", "raw", "first_seen_at", "last_seen_at", "last_sync_id", "search_text"}


@dataclass(frozen=True)
class Target:
    """A resolved resource: its kind, id and the live snapshot row (typed columns, no raw)."""

    kind: str
    id: str
    name: str | None
    row: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def status(self) -> str | None:
        return self.row.get("status")

    @property
    def project_id(self) -> str | None:
        return self.row.get("project_id")

    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name and self.name != self.id else self.id


def table_of(app: AppContext, kind: str) -> Table:
    return app.sync.spec(kind).table


def name_columns(kind: str) -> tuple[str, ...]:
    return NAME_COLUMNS.get(kind, ("name",))


def public_row(table: Table, row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    return {k: v for k, v in m.items() if k not in HIDDEN_COLUMNS}


def _target(kind: str, table: Table, row: Any) -> Target:
    r = public_row(table, row)
    name = next((r.get(c) for c in name_columns(kind) if r.get(c)), None)
    return Target(kind=kind, id=r["id"], name=name, row=r)


async def _lookup(app: AppContext, kind: str, ref: str) -> list[Target]:
    t = table_of(app, kind)
    by_name = [t.c[c] == ref for c in name_columns(kind) if c in t.c]
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(t).where(live(t, app.cloud_name), restrict(app, t), or_(t.c.id == ref, *by_name))
                                   .order_by(t.c.id).limit(MAX_CANDIDATES + 1))).all()
    found = [_target(kind, t, r) for r in rows]
    exact_id = [x for x in found if x.id == ref]
    return exact_id or found


async def _suggestions(app: AppContext, kind: str, ref: str) -> list[str]:
    t = table_of(app, kind)
    col = t.c[name_columns(kind)[0]]
    async with app.db.reader() as conn:
        names = (await conn.execute(select(col).where(live(t, app.cloud_name), restrict(app, t), col.is_not(None)).distinct()
                                    .limit(20000))).scalars().all()
    return close_matches(ref, [str(n) for n in names])


async def resolve(app: AppContext, kind: str, ref: str | None, *, what: str | None = None,
                  param: str = "name") -> Target:
    """The one live ``kind`` row whose id or exact name is ``ref``; raises InvalidArgument (empty
    ``ref``), Conflict (ambiguous name) or NotFound (with close matches). ``what`` names the kind in
    messages ("instance"), ``param`` the tool parameter the user passed it in."""
    what = what or kind.rstrip("s")
    ref = (ref or "").strip()
    if not ref:
        raise InvalidArgument(f"Give the {what} to act on in '{param}' (its exact name or ID).")
    found = await _lookup(app, kind, ref)
    unreachable: OpsError | None = None
    if not found and ID_LIKE.match(ref):
        try:
            await app.sync.refresh(kind, [ref])
        except OpsError as e:
            unreachable = e  # OpenStack could not be asked: say so rather than "no such"
        found = await _lookup(app, kind, ref)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        shown = found[:MAX_CANDIDATES]
        listing = "; ".join(f"{x.id} (status {x.status or '-'}, project {x.project_id or '-'})" for x in shown)
        more = " and more" if len(found) > MAX_CANDIDATES else ""
        raise Conflict(f"{len(shown)}{'+' if more else ''} {what}s are named '{ref}': {listing}{more}. "
                       f"Nothing was changed; pass the ID of the one you mean in '{param}'.")
    if unreachable is not None:
        raise UpstreamError(f"No live {what} has the ID '{ref}' in the snapshot yet, and OpenStack could not be asked "
                            f"about it just now ({unreachable}). Nothing was changed; retry in a moment.")
    raise NotFound(f"No live {what} has the ID or exact name '{ref}' in the snapshot (names are case-sensitive; "
                   f"search first if unsure).", await _suggestions(app, kind, ref))


# Actions OpenStack's default policies leave to operators: refused to project-restricted callers.
OPERATOR_ACTIONS = frozenset({"migrate", "live_migrate"})


def check_allowed(app: AppContext, tool: str, action: str, creates: bool, target: Target | None) -> None:
    """Refuse a project-restricted caller (``app.scope``) an action on a target its projects do not own
    (lookups already keep to the rows it sees: shared networks and public images are seen, not owned),
    one that creates a resource (it would land in the server's own project), or an operator's action."""
    scope = app.scope
    if not scope.restricted:
        return
    why = None
    if action in OPERATOR_ACTIONS:
        why = "moving an instance between hosts is an operator's action (Nova's default policy: admin only)"
    elif creates:
        why = "it creates a resource, which lands in the project this server authenticates to, not in yours"
    elif target is not None and (not scoped_kind(table_of(app, target.kind)) or not scope.allows(target.project_id)):
        why = f"its target {target.label()} is not owned by one of your projects"
    if why is not None:
        raise NotPermitted(f"{tool} {action} is not allowed to this token, which restricts its caller to projects: "
                           f"{why}. Nothing was changed. Use a token without that claim, or ask the operator.")


async def load_rows(app: AppContext, kind: str, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Current snapshot rows of ``ids`` (tombstoned rows included, with ``deleted_at`` set); None when absent."""
    t = table_of(app, kind)
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(t).where(t.c.cloud == app.cloud_name, t.c.id.in_(ids)))).all()
    by_id = {r._mapping["id"]: public_row(t, r) for r in rows}
    return {i: by_id.get(i) for i in ids}
