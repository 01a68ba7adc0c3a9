"""manage_volume attach and detach: a Cinder volume to or from a Nova server, through Nova's
``os-volume_attachments`` (Nova reserves the volume in Cinder, connects it on the compute host and
records the block device; Cinder's attachment API alone would not connect anything).

Both refresh the volume row (status, ``volume_attachments``) and the server's (``server_volumes``), and
follow up until they agree (the server lists the volume exactly when it is attached). detach needs
confirmation: the guest loses the disk (unflushed writes with it). A volume attached to several
servers (multiattach) needs ``instance_name`` to say which attachment goes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.errors import Conflict, InvalidArgument
from app.resources.servers import server_volumes
from app.resources.volumes import attachments as volume_attachments
from app.services.operations import Action, Call, Target, resolve

if TYPE_CHECKING:
    from app.context import AppContext

DEVICE_PREFIX = "/dev/"


async def _attached_servers(app: AppContext, volume_id: str) -> list[str]:
    """Servers the volume is attached to, by the snapshot's (just refreshed) volume row."""
    t = volume_attachments
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(t.c.server_id).where(t.c.cloud == app.cloud_name,
                                                               t.c.volume_id == volume_id))).scalars().all()
    return sorted({r for r in rows if r})


async def _server_lists(app: AppContext, server_id: str, volume_id: str) -> bool:
    t = server_volumes
    async with app.db.reader() as conn:
        row = (await conn.execute(select(t.c.volume_id).where(
            t.c.cloud == app.cloud_name, t.c.server_id == server_id, t.c.volume_id == volume_id))).first()
    return row is not None


async def _instance(app: AppContext, ref: Any) -> Target:
    return await resolve(app, "servers", str(ref or ""), what="instance", param="instance_name")


async def _prepare_attach(app: AppContext, t: Target | None, args: Mapping[str, Any]) -> Mapping[str, Any]:
    assert t is not None
    device = args.get("device")
    if device is not None and (not str(device).startswith(DEVICE_PREFIX) or len(str(device)) <= len(DEVICE_PREFIX)):
        raise InvalidArgument(f"device must be a guest device path such as /dev/vdb (got {device!r}); omit it to let "
                              "Nova pick the next free one.")
    server = await _instance(app, args.get("instance_name"))
    return {"server_id": server.id, "server_label": server.label()}


async def _prepare_detach(app: AppContext, t: Target | None, args: Mapping[str, Any]) -> Mapping[str, Any]:
    assert t is not None
    await app.sync.refresh("volumes", [t.id])  # attachments change out of band: decide on the current ones
    attached = await _attached_servers(app, t.id)
    if args.get("instance_name"):
        server = await _instance(app, args.get("instance_name"))
        if attached and server.id not in attached:
            raise Conflict(f"Volume {t.label()} is not attached to instance {server.label()} (it is attached to "
                           f"{', '.join(attached)}). Nothing was changed.")
        return {"server_id": server.id, "server_label": server.label(), "_others": len(set(attached) - {server.id})}
    if not attached:
        raise Conflict(f"Volume {t.label()} is not attached to any instance (status {t.status}). Nothing was changed.")
    if len(attached) > 1:
        raise InvalidArgument(f"Volume {t.label()} is attached to {len(attached)} instances ({', '.join(attached)}); "
                              "say which one to detach it from in instance_name. Nothing was changed.")
    return {"server_id": attached[0], "server_label": attached[0], "_others": 0}


def _attach(c: Call) -> Any:
    attrs = {"device": c.args["device"]} if c.args.get("device") else {}
    return c.conn.compute.create_volume_attachment(c.args["server_id"], c.target.id, **attrs)  # type: ignore[union-attr]


def _detach(c: Call) -> Any:
    return c.conn.compute.delete_volume_attachment(c.args["server_id"], c.target.id,  # type: ignore[union-attr]
                                                   ignore_missing=False)


def _servers(c: Call, _result: Any) -> Mapping[str, list[str]]:
    return {"servers": [c.args["server_id"]]}


def _agrees(attach: bool) -> Any:
    async def settled(app: AppContext, ids: list[str], c: Call) -> bool:
        return await _server_lists(app, c.args["server_id"], ids[0]) == attach
    return settled


def _vol(t: Target | None) -> str:
    r = t.row if t else {}
    return f"{t.label() if t else '?'} ({r.get('size_gb')} GiB, status {t.status if t else '-'})"


ATTACH_ACTIONS = {
    "attach": Action(
        name="attach", kind="volumes", requires=("instance_name",), prepare=_prepare_attach, call=_attach,
        describe=lambda t, a: (f"Attach volume {_vol(t)} to instance {a.get('server_label')}"
                               f"{' as ' + str(a['device']) if a.get('device') else ''}."),
        goal={"status": ("in-use",)}, also=_servers, settled=_agrees(True)),
    "detach": Action(
        name="detach", kind="volumes", confirm=True, prepare=_prepare_detach, call=_detach,
        describe=lambda t, a: (f"Detach volume {_vol(t)} from instance {a.get('server_label')}: the guest loses the "
                               "disk at once (unmount it first; unflushed writes are lost)."),
        goal=lambda a: {"status": ("in-use",) if a.get("_others") else ("available",)},
        also=_servers, settled=_agrees(False)),
}
