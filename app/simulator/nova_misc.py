"""Nova: flavors (with extra specs) and keypairs (create returns the private key once)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso_micro, json_body, paginate, read_json
from app.simulator.nova_common import MV, is_admin, links, token, truthy

# ----------------------------------------------------------------------------------------------
# Flavors


def render_flavor(request: Request, f: dict[str, Any], mv: MV, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f["id"], "name": f["name"]}
    if detail:
        out.update({"ram": f["ram"], "disk": f["disk"], "vcpus": f["vcpus"],
                    "swap": f["swap"] if mv >= (2, 75) else (f["swap"] or ""),
                    "OS-FLV-EXT-DATA:ephemeral": f["OS-FLV-EXT-DATA:ephemeral"],
                    "OS-FLV-DISABLED:disabled": f["OS-FLV-DISABLED:disabled"],
                    "os-flavor-access:is_public": f["os-flavor-access:is_public"], "rxtx_factor": 1.0})
    out["links"] = links(request, "flavors", f["id"])
    if mv >= (2, 55):
        out["description"] = f.get("description")
    if detail and mv >= (2, 61):
        out["extra_specs"] = dict(f["_extra_specs"])
    return out


def _flavor(sim: Simulator, fid: str) -> dict[str, Any]:
    f = sim.state.get("flavors", fid)
    if f is None:
        raise SimHTTPError(404, f"Flavor {fid} could not be found.")
    return f


async def list_flavors(sim: Simulator, request: Request, mv: MV) -> Response:
    detail = request.url.path.rstrip("/").endswith("/detail")
    q = request.query_params
    pub = q.get("is_public", "true").lower() if is_admin(request) else "true"
    items = []
    for f in sim.state.values("flavors"):
        if pub not in ("none", "all") and f["os-flavor-access:is_public"] != truthy(pub):
            continue
        if "minRam" in q and f["ram"] < int(q["minRam"]) or "minDisk" in q and f["disk"] < int(q["minDisk"]):
            continue
        items.append(f)
    sort_key = q.get("sort_key", "flavorid")
    k = {"flavorid": "id", "name": "name", "memory_mb": "ram", "vcpus": "vcpus", "root_gb": "disk"}.get(sort_key, "id")
    items.sort(key=lambda f: (f[k], f["id"]), reverse=q.get("sort_dir", "asc") == "desc")
    page, nxt = paginate(request, items, "flavors")
    body: dict[str, Any] = {"flavors": [render_flavor(request, f, mv, detail) for f in page]}
    if nxt:
        body["flavors_links"] = nxt
    return json_body(body)


async def show_flavor(sim: Simulator, request: Request, mv: MV) -> Response:
    return json_body({"flavor": render_flavor(request, _flavor(sim, request.path_params["id"]), mv, True)})


async def extra_specs(sim: Simulator, request: Request, mv: MV) -> Response:
    f = _flavor(sim, request.path_params["id"])
    key = request.path_params.get("key")
    if key is not None:
        if key not in f["_extra_specs"]:
            raise SimHTTPError(404, f"Flavor {f['id']} has no extra specs with key {key}.")
        return json_body({key: f["_extra_specs"][key]})
    if request.method == "POST":
        body = await read_json(request)
        specs = body.get("extra_specs") if isinstance(body, dict) else None
        if not isinstance(specs, dict):
            raise SimHTTPError(400, "Invalid input for field/attribute extra_specs.")
        f["_extra_specs"] = {**f["_extra_specs"], **{k: str(v) for k, v in specs.items()}}
    return json_body({"extra_specs": dict(f["_extra_specs"])})


# ----------------------------------------------------------------------------------------------
# Keypairs


def fingerprint(public_key: str) -> str:
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def generate_rsa() -> tuple[str, str]:
    """(private PEM, OpenSSH public key) like Nova's ``crypto.generate_key_pair``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode() + " Generated-by-Nova"


def render_keypair(k: dict[str, Any], mv: MV, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": k["name"], "public_key": k["public_key"], "fingerprint": k["fingerprint"]}
    if mv >= (2, 2):
        out["type"] = k["type"]
    if full:
        out.update(user_id=k["user_id"], created_at=iso_micro(k["_created"]), deleted=False, deleted_at=None,
                   updated_at=None, id=k["_int"])
    return out


def _owner(request: Request, mv: MV) -> str:
    uid = request.query_params.get("user_id")
    if uid and mv >= (2, 10):
        if not is_admin(request):
            raise SimHTTPError(403, "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
        return uid
    return token(request).user_id


async def list_keypairs(sim: Simulator, request: Request, mv: MV) -> Response:
    uid = _owner(request, mv)
    items = [k for k in sim.state.values("keypairs") if k["user_id"] == uid]
    nxt: list[dict[str, str]] = []
    if mv >= (2, 35):
        items, nxt = paginate(request, items, "keypairs", key="name")
    body: dict[str, Any] = {"keypairs": [{"keypair": render_keypair(k, mv, False)} for k in items]}
    if nxt:
        body["keypairs_links"] = nxt
    return json_body(body)


def _keypair(sim: Simulator, uid: str, name: str) -> dict[str, Any]:
    k = sim.state.get("keypairs", f"{uid}:{name}")
    if k is None:
        raise SimHTTPError(404, f"Keypair {name} not found for user {uid}")
    return k


async def show_keypair(sim: Simulator, request: Request, mv: MV) -> Response:
    k = _keypair(sim, _owner(request, mv), request.path_params["name"])
    return json_body({"keypair": render_keypair(k, mv, True)})


async def delete_keypair(sim: Simulator, request: Request, mv: MV) -> Response:
    k = _keypair(sim, _owner(request, mv), request.path_params["name"])
    sim.state.remove("keypairs", k["id"])
    return Response(status_code=204 if mv >= (2, 2) else 202)


async def create_keypair(sim: Simulator, request: Request, mv: MV) -> Response:
    body = await read_json(request)
    spec = body.get("keypair") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or not spec.get("name"):
        raise SimHTTPError(400, "Invalid input for field/attribute keypair. 'name' is a required property")
    uid = spec.get("user_id") if mv >= (2, 10) and spec.get("user_id") and is_admin(request) else token(request).user_id
    name = spec["name"]
    if sim.state.get("keypairs", f"{uid}:{name}") is not None:
        raise SimHTTPError(409, f"Key pair '{name}' already exists.")
    public = spec.get("public_key")
    private = None
    if not public:
        if mv >= (2, 92):
            raise SimHTTPError(400, "Invalid input for field/attribute keypair. 'public_key' is a required property")
        private, public = generate_rsa()
    try:
        fp = fingerprint(public)
    except (IndexError, ValueError) as e:  # not 'type base64 [comment]', or bad base64
        raise SimHTTPError(400, "Keypair data is invalid: failed to generate fingerprint") from e
    n = getattr(sim, "_keypair_seq", 1000) + 1
    sim._keypair_seq = n  # type: ignore[attr-defined]
    k = sim.state.add("keypairs", {"id": f"{uid}:{name}", "name": name, "user_id": uid, "public_key": public,
                                   "fingerprint": fp, "type": spec.get("type", "ssh") if mv >= (2, 2) else "ssh",
                                   "_created": sim.now(), "_int": n})
    out = render_keypair(k, mv, False)
    out["user_id"] = uid
    if private is not None:
        out["private_key"] = private
    return json_body({"keypair": out}, status=201 if mv >= (2, 2) else 200)
