"""manage_image: Glance image create (metadata, optional upload of a local file), update (JSON-patch of
name, visibility, protected, min disk/RAM and custom properties), delete (needs confirmation;
protected images are refused before any call).

Uploads read only regular files under ``settings.image_upload_dirs`` (symlinks and ``..`` resolved
before the check, re-verified on the open descriptor), at most ``settings.image_upload_max_bytes``.
URLs are not supported (no server-side fetch)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from app.cloud.connection import SDK_ERRORS
from app.errors import InvalidArgument, NotPermitted
from app.services.manage import _raw
from app.services.operations import Action, Call, ManagedTool, Target
from app.services.operations.paths import AllowedFile, check_allowed_file, open_allowed

if TYPE_CHECKING:
    from app.context import AppContext

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
# Glance core/read-only attributes: not settable as custom properties
RESERVED = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner", "checksum", "os_hash_algo",
            "os_hash_value", "size", "virtual_size", "min_disk", "min_ram", "disk_format", "container_format",
            "created_at", "updated_at", "tags", "self", "file", "schema", "direct_url", "locations", "stores"}
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
CHUNK = 1024 * 1024
# tool argument -> (Glance attribute, snapshot column)
UPDATABLE = {"new_name": ("name", "name"), "visibility": ("visibility", "visibility"),
             "protected": ("protected", "protected"), "min_disk": ("min_disk", "min_disk_gb"),
             "min_ram": ("min_ram", "min_ram_mb")}


def _check_common(a: Mapping[str, Any]) -> None:
    vis = a.get("visibility")
    if vis is not None and vis not in VISIBILITIES:
        raise InvalidArgument(f"visibility must be one of {', '.join(VISIBILITIES)} (got {vis!r}).")
    for k in ("min_disk", "min_ram"):
        v = a.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise InvalidArgument(f"{k} must be a whole number >= 0 (got {v!r}).")
    props = a.get("properties")
    if props is not None:
        if not isinstance(props, Mapping):
            raise InvalidArgument("properties must be a JSON object of name -> value.")
        bad = sorted(k for k in props if k in RESERVED or not k or k.startswith("_") or "/" in k)
        if bad:
            raise InvalidArgument(f"properties cannot set {', '.join(map(repr, bad))}: use the tool's own parameters "
                                  "for core attributes (new_name, visibility, protected, min_disk, min_ram).")
        odd = sorted(k for k, v in props.items() if v is not None and not isinstance(v, (str, int, float, bool)))
        if odd:
            raise InvalidArgument(f"properties values must be strings, numbers or booleans ({', '.join(odd)}).")


def _check_create(_t: Target | None, a: Mapping[str, Any]) -> None:
    _check_common(a)
    for k, allowed in (("disk_format", DISK_FORMATS), ("container_format", CONTAINER_FORMATS)):
        if a.get(k) not in allowed:
            raise InvalidArgument(f"{k} must be one of {', '.join(allowed)} (got {a.get(k)!r}).")
    if any(v is None for v in (a.get("properties") or {}).values()):
        raise InvalidArgument("properties with a null value only make sense for update (null removes a property).")


async def _prepare_create(app: AppContext, _t: Target | None, a: Mapping[str, Any]) -> dict[str, Any]:
    if not a.get("file_path"):
        return {}
    s = app.settings
    f = await asyncio.to_thread(check_allowed_file, a["file_path"], s.image_upload_dirs,
                                setting="OPS_IMAGE_UPLOAD_DIRS", max_bytes=s.image_upload_max_bytes,
                                size_setting="OPS_IMAGE_UPLOAD_MAX_BYTES", what="image file")
    return {"upload_file": f.path, "upload_bytes": f.size, "upload_root": f.root}


class _Exact(io.RawIOBase):
    """Reads exactly ``size`` bytes of ``fh`` (requests sends ``len()`` as Content-Length)."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.left, self.size = fh, size, size

    def __len__(self) -> int:
        return self.size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n) if n else b""
        if len(data) != n:
            raise NotPermitted("The image file shrank while it was being uploaded; the upload was aborted.")
        self.left -= n
        return data


def _create(c: Call) -> Any:
    a = c.args
    body = {"name": a["image_name"], "disk_format": a["disk_format"], "container_format": a["container_format"],
            "visibility": a.get("visibility") or "private", "min_disk": a.get("min_disk"), "min_ram": a.get("min_ram"),
            "protected": a.get("protected"), **(a.get("properties") or {})}
    img = _raw.request(c.conn.image, "POST", "/images", json={k: v for k, v in body.items() if v is not None})
    if not a.get("upload_file"):
        return img
    f = AllowedFile(path=a["upload_file"], size=int(a["upload_bytes"]), root=a["upload_root"])
    try:
        with open_allowed(f) as fh:
            _raw.request(c.conn.image, "PUT", f"/images/{img['id']}/file", data=_Exact(fh, f.size), once=True,
                         headers={"Content-Type": "application/octet-stream"})
    except BaseException:
        try:  # do not leave a half-made (queued) image behind
            _raw.request(c.conn.image, "DELETE", f"/images/{img['id']}")
        except SDK_ERRORS:  # the upload error is the one to report; a queued image is visible to list
            pass
        raise
    return img


def _patch_ops(a: Mapping[str, Any]) -> list[dict[str, Any]]:
    ops = [{"op": "replace", "path": f"/{attr}", "value": a[arg]} for arg, (attr, _col) in UPDATABLE.items()
           if a.get(arg) is not None]
    for k, v in (a.get("properties") or {}).items():
        ops.append({"op": "remove", "path": f"/{k}"} if v is None else {"op": "add", "path": f"/{k}", "value": v})
    return ops


def _check_update(_t: Target | None, a: Mapping[str, Any]) -> None:
    _check_common(a)
    if not _patch_ops(a):
        raise InvalidArgument("Action 'update' needs something to change: new_name, visibility, protected, min_disk, "
                              "min_ram or properties.")


def _update(c: Call) -> Any:
    return _raw.request(c.conn.image, "PATCH", f"/images/{c.target.id}", json=_patch_ops(c.args),  # type: ignore[union-attr]
                        headers={"Content-Type": PATCH_TYPE})


def _check_delete(t: Target | None, _a: Mapping[str, Any]) -> None:
    if t is not None and t.row.get("protected"):
        raise NotPermitted(f"Image {t.label()} is protected, so Glance refuses to delete it. If it really must go, "
                           "first call manage_image with action='update' and protected=false, then delete it.")


def _img_state(t: Target | None) -> str:
    assert t is not None
    r = t.row
    return (f"status {t.status}, {r.get('visibility')}, {r.get('disk_format') or '-'}, "
            f"{r.get('size_bytes') or 0} bytes, project {r.get('project_id') or '-'}")


def _describe_create(_t: Target | None, a: Mapping[str, Any]) -> str:
    up = f", uploading {a.get('upload_bytes')} bytes from {a.get('upload_file')}" if a.get("upload_file") else \
        " (metadata only: the image stays 'queued' until data is uploaded)"
    return (f"Create {a.get('visibility') or 'private'} image '{a.get('image_name')}' ({a.get('disk_format')}/"
            f"{a.get('container_format')}){up}.")


def _describe_update(t: Target | None, a: Mapping[str, Any]) -> str:
    changes = [f"{op['op']} {op['path'][1:]}" + (f" = {op['value']!r}" if "value" in op else "") for op in _patch_ops(a)]
    return f"Update image {t.label() if t else '?'} ({_img_state(t)}): {'; '.join(changes)}."


ACTIONS = {
    "create": Action(
        name="create", kind="images", target=None, creates=True, requires=("image_name",), check=_check_create,
        prepare=_prepare_create, call=_create, describe=_describe_create,
        goal=lambda a: {"status": ("active",) if a.get("upload_file") else ("queued", "active")}),
    "update": Action(
        name="update", kind="images", check=_check_update, call=_update, describe=_describe_update,
        goal=lambda a: {col: (a[arg],) for arg, (_attr, col) in UPDATABLE.items() if a.get(arg) is not None}),
    "delete": Action(
        name="delete", kind="images", confirm=True, gone=True, check=_check_delete,
        call=lambda c: c.conn.image.delete_image(c.target.id, ignore_missing=False),
        describe=lambda t, _a: (f"Delete image {t.label() if t else '?'} ({_img_state(t)}); its data is removed from "
                                "the store. Instances already booted from it keep running.")),
}

MANAGE_IMAGE = ManagedTool(name="manage_image", what="image", target_param="image_name", actions=ACTIONS,
                           read_actions=("list",))
