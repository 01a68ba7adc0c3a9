"""Glance v2 simulator: images (list with ``next`` links, filters, create, JSON-patch update, delete,
data upload/download). State kind ``images``; image data is kept in ``_data`` (bytes) or, for fleet
images small enough, generated deterministically from ``_seed``; other fleet images have no data in
the store (download answers 404 as Glance does when the store lost the file)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from app.simulator.core import ServiceDef, SimHTTPError, Simulator, iso, json_body, new_id, read_json

CORE = ("id", "name", "status", "visibility", "protected", "os_hidden", "owner", "checksum", "os_hash_algo",
        "os_hash_value", "size", "virtual_size", "min_disk", "min_ram", "disk_format", "container_format",
        "created_at", "updated_at", "tags")
READ_ONLY = {"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "created_at",
             "updated_at", "self", "file", "schema", "direct_url", "locations", "stores"}
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
LIST_RESERVED = {"limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "size_min", "size_max", "tag"}
BLOCK = 65536


def _token(request: Request) -> Any:
    return request.scope.get("state", {}).get("token")


def _is_admin(request: Request) -> bool:
    tok = _token(request)
    return tok is None or any(r.get("name") == "admin" for r in tok.roles)


def render(img: dict[str, Any]) -> dict[str, Any]:
    out = {k: img.get(k) for k in CORE}
    out["tags"] = list(img.get("tags") or [])
    for k, v in img.items():
        if k[0] != "_" and k not in out:
            out[k] = v
    out["self"] = f"/v2/images/{img['id']}"
    out["file"] = f"/v2/images/{img['id']}/file"
    out["schema"] = "/v2/schemas/image"
    return out


def synthetic_chunks(seed: int, size: int) -> Iterator[bytes]:
    block = random.Random(seed).randbytes(BLOCK)
    full, rest = divmod(size, BLOCK)
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


def set_data_hashes(img: dict[str, Any], chunks: Iterator[bytes]) -> None:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    size = 0
    for c in chunks:
        md5.update(c)
        sha.update(c)
        size += len(c)
    img.update(size=size, checksum=md5.hexdigest(), os_hash_algo="sha512", os_hash_value=sha.hexdigest())


def visible(request: Request, img: dict[str, Any]) -> bool:
    if _is_admin(request):
        return True
    tok = _token(request)
    return img["visibility"] in ("public", "community") or img.get("owner") == (tok.project_id if tok else None)


def routes(sim: Simulator) -> list[BaseRoute]:
    def versions_doc(request: Request) -> dict[str, Any]:
        href = str(request.base_url).rstrip("/") + "/image/v2/"
        vs = [f"2.{i}" for i in range(17, -1, -1)]
        return {"versions": [{"id": f"v{v}", "status": "CURRENT" if i == 0 else "SUPPORTED",
                              "links": [{"rel": "self", "href": href}]} for i, v in enumerate(vs)]}

    async def root(request: Request) -> Response:
        return json_body(versions_doc(request), 300)

    async def versions(request: Request) -> Response:
        return json_body(versions_doc(request))

    def get_img(request: Request) -> dict[str, Any]:
        img = sim.state.get("images", request.path_params["image_id"])
        if img is None or not visible(request, img):
            raise SimHTTPError(404, f"No image found with ID {request.path_params['image_id']}")
        return img

    async def list_images(request: Request) -> Response:
        q = request.query_params
        admin = _is_admin(request)
        tok = _token(request)
        own = tok.project_id if tok else None
        vis = q.get("visibility")
        if vis and vis not in ("public", "private", "shared", "community", "all"):
            raise SimHTTPError(400, f"Invalid visibility value: {vis}")
        tags = q.getlist("tag")
        filters = {k: v for k, v in q.items() if k not in LIST_RESERVED and k != "visibility"}
        hidden = filters.pop("os_hidden", "false").lower() == "true"
        items = []
        for img in sim.state.values("images"):
            if img.get("os_hidden", False) != hidden:
                continue
            v = img["visibility"]
            if vis in (None, "all"):
                if v == "community" and img.get("owner") != own and vis is None:
                    continue
                if not admin and v in ("private", "shared") and img.get("owner") != own:
                    continue
            elif v != vis or (not admin and v in ("private", "shared") and img.get("owner") != own):
                continue
            if any(str(_cmp(img.get(k))) != val for k, val in filters.items()):
                continue
            if tags and not all(t in (img.get("tags") or ()) for t in tags):
                continue
            if q.get("size_min") and (img.get("size") or 0) < int(q["size_min"]):
                continue
            if q.get("size_max") and (img.get("size") or 0) > int(q["size_max"]):
                continue
            items.append(img)
        sort_key, sort_dir = q.get("sort_key", "created_at"), q.get("sort_dir", "desc")
        if q.get("sort"):
            sort_key, _, d = q["sort"].split(",")[0].partition(":")
            sort_dir = d or "desc"
        items.sort(key=lambda i: (str(i.get(sort_key) or ""), i["id"]), reverse=sort_dir == "desc")
        try:
            limit = min(int(q.get("limit", 25)), 1000)
        except ValueError as e:
            raise SimHTTPError(400, "limit param must be an integer") from e
        if limit < 0:
            raise SimHTTPError(400, "limit param must be positive")
        start = 0
        if q.get("marker"):
            pos = next((i for i, it in enumerate(items) if it["id"] == q["marker"]), None)
            if pos is None:
                raise SimHTTPError(400, f"marker [{q['marker']}] not found")
            start = pos + 1
        page = items[start:start + limit]
        body: dict[str, Any] = {"images": [render(i) for i in page], "first": "/v2/images",
                                "schema": "/v2/schemas/images"}
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        if params:
            body["first"] = "/v2/images?" + urlencode(params)
        if page and start + limit < len(items):
            body["next"] = "/v2/images?" + urlencode([*params, ("marker", page[-1]["id"])])
        return json_body(body)

    async def show_image(request: Request) -> Response:
        return json_body(render(get_img(request)))

    async def create_image(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise SimHTTPError(400, "Request body must be a JSON object.")
        bad = [k for k in body if k in READ_ONLY and k != "id"]
        if bad:
            raise SimHTTPError(403, f"Attribute '{bad[0]}' is read-only.")
        iid = body.get("id") or new_id()
        if sim.state.get("images", iid) is not None:
            raise SimHTTPError(409, f"Image with identifier {iid} already exists!")
        vis = body.get("visibility", "shared")
        if vis not in ("public", "private", "shared", "community"):
            raise SimHTTPError(400, f"Invalid visibility value: {vis}")
        if vis == "public" and not _is_admin(request):
            raise SimHTTPError(403, "You are not authorized to complete publicize_image action.")
        for k, allowed in (("disk_format", DISK_FORMATS), ("container_format", CONTAINER_FORMATS)):
            if body.get(k) is not None and body[k] not in allowed:
                raise SimHTTPError(400, f"Invalid value '{body[k]}' for parameter '{k}': "
                                        f"{body[k]!r} is not one of {list(allowed)}")
        tok = _token(request)
        t = iso(sim.now())
        img = {"id": iid, "name": body.get("name"), "status": "queued", "visibility": vis,
               "protected": bool(body.get("protected", False)), "os_hidden": bool(body.get("os_hidden", False)),
               "owner": body.get("owner") or (tok.project_id if tok else None), "checksum": None,
               "os_hash_algo": None, "os_hash_value": None, "size": None, "virtual_size": None,
               "min_disk": int(body.get("min_disk", 0)), "min_ram": int(body.get("min_ram", 0)),
               "disk_format": body.get("disk_format"), "container_format": body.get("container_format"),
               "created_at": t, "updated_at": t, "tags": list(dict.fromkeys(body.get("tags") or []))}
        for k, v in body.items():
            if k not in img:
                img[k] = v
        sim.state.add("images", img)
        return json_body(render(img), 201, {"Location": f"{str(request.base_url).rstrip('/')}/image/v2/images/{iid}"})

    async def patch_image(request: Request) -> Response:
        img = get_img(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch"):
            raise SimHTTPError(415, f"Unsupported Content-Type: {ctype}", {"Accept-Patch":
                               "application/openstack-images-v2.0-json-patch, "
                               "application/openstack-images-v2.1-json-patch"})
        ops = await read_json(request)
        if not isinstance(ops, list):
            raise SimHTTPError(400, "Request body must be a JSON array of operation objects.")
        new = dict(img)
        for op in ops:
            kind, path = op.get("op"), str(op.get("path", ""))
            name = path.lstrip("/").split("/")[0]
            if kind not in ("add", "replace", "remove") or not name:
                raise SimHTTPError(400, f"Unable to find '{kind}' or path in JSON Schema change")
            if name in READ_ONLY or name.startswith("_"):
                raise SimHTTPError(403, f"Attribute '{name}' is read-only.")
            if name == "owner" and not _is_admin(request):
                raise SimHTTPError(403, "Attribute 'owner' is reserved.")
            if kind == "remove":
                if name not in new or name in CORE:
                    raise SimHTTPError(409 if name not in CORE else 403,
                                       f"Property {name} does not exist." if name not in CORE
                                       else f"Attribute '{name}' is reserved.")
                del new[name]
                continue
            if kind == "replace" and name not in new:
                raise SimHTTPError(409, f"Property {name} does not exist.")
            value = op.get("value")
            if name == "visibility" and value not in ("public", "private", "shared", "community"):
                raise SimHTTPError(400, f"Invalid visibility value: {value}")
            if name in ("min_disk", "min_ram"):
                value = int(value)
            if name == "tags":
                value = list(dict.fromkeys(value or []))
            new[name] = value
        img.clear()
        img.update(new)
        img["updated_at"] = iso(sim.now())
        return json_body(render(img))

    async def delete_image(request: Request) -> Response:
        img = get_img(request)
        if img.get("protected"):
            raise SimHTTPError(403, f"Image {img['id']} is protected and cannot be deleted.")
        if not _is_admin(request) and img.get("owner") != _token(request).project_id:
            raise SimHTTPError(403, "You are not permitted to delete this image.")
        sim.state.remove("images", img["id"], keep_tombstone=True)
        img["status"] = "deleted"
        return Response(status_code=204)

    async def upload(request: Request) -> Response:
        img = get_img(request)
        if img["status"] != "queued":
            raise SimHTTPError(409, f"Image status transition from {img['status']} to saving is not allowed")
        if not img.get("disk_format") or not img.get("container_format"):
            raise SimHTTPError(400, "Properties disk_format, container_format must be set prior to saving data.")
        data = await request.body()
        img["status"] = "saving"
        img["_data"] = data
        set_data_hashes(img, iter([data]))
        img["virtual_size"] = len(data) if img["disk_format"] == "raw" else None
        img["status"] = "active"
        img["updated_at"] = iso(sim.now())
        return Response(status_code=204)

    async def download(request: Request) -> Response:
        img = get_img(request)
        if img["status"] in ("queued", "saving") or img.get("size") is None:
            return Response(status_code=204)
        if img["status"] == "deactivated" and not _is_admin(request):
            raise SimHTTPError(403, "The requested image has been deactivated. Image data download is forbidden.")
        headers = {"Content-MD5": img["checksum"] or "", "Content-Length": str(img["size"])}
        if "_data" in img:
            return Response(img["_data"], media_type="application/octet-stream", headers=headers)
        if "_seed" in img:
            return StreamingResponse(synthetic_chunks(img["_seed"], img["size"]),
                                     media_type="application/octet-stream", headers=headers)
        raise SimHTTPError(404, f"Image {img['id']} data could not be found in the store")

    async def add_tag(request: Request) -> Response:
        img = get_img(request)
        tag = request.path_params["tag"]
        if request.method == "PUT":
            if tag not in img["tags"]:
                img["tags"].append(tag)
        elif tag in img["tags"]:
            img["tags"].remove(tag)
        else:
            raise SimHTTPError(404, f"Tag {tag} not found.")
        img["updated_at"] = iso(sim.now())
        return Response(status_code=204)

    return [
        Route("/", root), Route("/versions", versions),
        Route("/v2/images", list_images, methods=["GET"]),
        Route("/v2/images", create_image, methods=["POST"]),
        Route("/v2/images/{image_id}", show_image, methods=["GET"]),
        Route("/v2/images/{image_id}", patch_image, methods=["PATCH"]),
        Route("/v2/images/{image_id}", delete_image, methods=["DELETE"]),
        Route("/v2/images/{image_id}/file", upload, methods=["PUT"]),
        Route("/v2/images/{image_id}/file", download, methods=["GET"]),
        Route("/v2/images/{image_id}/tags/{tag}", add_tag, methods=["PUT", "DELETE"]),
    ]


def _cmp(v: Any) -> Any:
    return str(v).lower() if isinstance(v, bool) else v


SERVICE = ServiceDef(type="image", name="glance", mount="/image", path="/image",
                     routes=routes, public=(r"/?$", r"/versions/?$"))


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.glance_fleet import populate as _p

    _p(sim, n, rng)
