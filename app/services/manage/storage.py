"""manage_volume and manage_snapshot: Cinder volume create/delete/extend, attach/detach (see
:mod:`app.services.manage.attachments`) and snapshot create/delete. Deletes and detach need
confirmation; ``list`` is answered from the snapshot by the tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidArgument
from app.services.manage.attachments import ATTACH_ACTIONS
from app.services.operations import Action, Call, ManagedTool, Target

SETTLED_VOLUME = ("available", "in-use")


def _int(args: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    v = args.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InvalidArgument(f"{key} must be a whole number of GiB >= {minimum} (got {v!r}).")
    return v


def _vol_state(t: Target | None) -> str:
    assert t is not None
    r = t.row
    return (f"status {t.status}, {r.get('size_gb')} GiB, type {r.get('volume_type') or '-'}, "
            f"AZ {r.get('availability_zone') or '-'}, project {r.get('project_id') or '-'}")


def _create_volume(c: Call) -> Any:
    a = c.args
    attrs = {"name": a["volume_name"], "size": a["size"], "volume_type": a.get("volume_type"),
             "availability_zone": a.get("availability_zone"), "description": a.get("description")}
    return c.conn.block_storage.create_volume(**{k: v for k, v in attrs.items() if v not in (None, "")})


def _check_extend(t: Target | None, a: Mapping[str, Any]) -> None:
    new = _int(a, "new_size")
    cur = (t.row.get("size_gb") if t else None) or 0
    if new <= cur:
        raise InvalidArgument(f"new_size must be larger than the current size ({cur} GiB); volumes cannot shrink.")


VOLUME_ACTIONS = {
    "create": Action(
        name="create", kind="volumes", target=None, creates=True, requires=("volume_name", "size"),
        check=lambda _t, a: (_int(a, "size"), None)[1], call=_create_volume,
        describe=lambda _t, a: (f"Create a {a.get('size')} GiB volume '{a.get('volume_name')}'"
                                f"{' of type ' + str(a['volume_type']) if a.get('volume_type') else ''}"
                                f"{' in AZ ' + str(a['availability_zone']) if a.get('availability_zone') else ''}."),
        goal={"status": ("available",)}),
    "delete": Action(
        name="delete", kind="volumes", confirm=True, gone=True,
        call=lambda c: c.conn.block_storage.delete_volume(c.target.id, ignore_missing=False),
        describe=lambda t, _a: (f"Delete volume {t.label() if t else '?'} ({_vol_state(t)}); its data is destroyed "
                                "permanently. OpenStack refuses attached volumes and volumes with snapshots.")),
    "extend": Action(
        name="extend", kind="volumes", requires=("new_size",), check=_check_extend,
        call=lambda c: c.conn.block_storage.extend_volume(c.target.id, c.args["new_size"]),
        describe=lambda t, a: f"Extend volume {t.label() if t else '?'} to {a.get('new_size')} GiB ({_vol_state(t)}).",
        goal=lambda a: {"status": SETTLED_VOLUME, "size_gb": (a.get("new_size"),)}),
    **ATTACH_ACTIONS,
}

MANAGE_VOLUME = ManagedTool(name="manage_volume", what="volume", target_param="volume_name",
                            actions=VOLUME_ACTIONS, read_actions=("list",))


def _create_snapshot(c: Call) -> Any:
    a = c.args
    attrs = {"volume_id": c.target.id, "name": a["snapshot_name"],  # type: ignore[union-attr]
             "description": a.get("description"), "force": bool(a.get("force")) or None}
    return c.conn.block_storage.create_snapshot(**{k: v for k, v in attrs.items() if v not in (None, "")})


def _snap_state(t: Target | None) -> str:
    assert t is not None
    return (f"status {t.status}, {t.row.get('size_gb')} GiB, of volume {t.row.get('volume_id') or '-'}, "
            f"project {t.row.get('project_id') or '-'}")


SNAPSHOT_ACTIONS = {
    "create": Action(
        name="create", kind="volume_snapshots", target="volumes", target_param="volume_name", creates=True,
        requires=("snapshot_name", "volume_name"), call=_create_snapshot,
        describe=lambda t, a: (f"Snapshot volume {t.label() if t else '?'} as '{a.get('snapshot_name')}'"
                               f"{' (forced while in use)' if a.get('force') else ''}."),
        goal={"status": ("available",)}),
    "delete": Action(
        name="delete", kind="volume_snapshots", confirm=True, gone=True,
        call=lambda c: c.conn.block_storage.delete_snapshot(c.target.id, ignore_missing=False),
        describe=lambda t, _a: f"Delete snapshot {t.label() if t else '?'} ({_snap_state(t)}); this cannot be undone."),
}

MANAGE_SNAPSHOT = ManagedTool(name="manage_snapshot", what="snapshot", target_param="snapshot_name",
                              actions=SNAPSHOT_ACTIONS, read_actions=("list",))
