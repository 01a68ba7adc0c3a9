"""manage_keypair: Nova keypair create (Nova generates the key), import (a public key given by the
user), delete (needs confirmation).

Nova generates a private key only below compute microversion 2.92; ``create`` pins the highest
microversion the cloud offers below that (the flow's ``prepare`` discovers it, before anything is
sent) and refuses clearly if the cloud offers none. The generated private key is an action *output*:
returned once in the tool result, never stored, audited or logged (the POST is sent with
keystoneauth's request/response logging off; the snapshot row is refreshed with a GET, which never
carries it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.errors import InvalidArgument
from app.services.manage import _raw
from app.services.operations import Action, Call, ManagedTool, Target

if TYPE_CHECKING:
    from app.context import AppContext

GENERATES_BELOW = (2, 92)          # Nova stopped generating keys at 2.92
KEY_TYPES = ("ssh", "x509")
PRIVATE_WITHHELD = "<private key material withheld>"
PRIVATE_MARKERS = ("PRIVATE KEY", "PuTTY-User-Key-File")
NAME_OK = re.compile(r"^[\w@. -]{1,255}$")


def looks_private(text: str | None) -> bool:
    return bool(text) and any(m in str(text) for m in PRIVATE_MARKERS)


def _key_type(a: Mapping[str, Any]) -> str:
    return str(a.get("key_type") or "ssh").lower()


def _check_name(_t: Target | None, a: Mapping[str, Any]) -> None:
    name = str(a.get("keypair_name") or "")
    if not NAME_OK.match(name) or name.strip() != name:
        raise InvalidArgument("keypair_name must be 1-255 characters: letters, digits, spaces, '_', '-', '.', '@' "
                              "(no leading or trailing space).")
    if _key_type(a) not in KEY_TYPES:
        raise InvalidArgument(f"key_type must be ssh or x509 (got {a.get('key_type')!r}).")


def validate_public_key(text: str, key_type: str) -> None:
    """Raise InvalidArgument unless ``text`` is one OpenSSH public key line (or a PEM X.509 certificate)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if text == PRIVATE_WITHHELD:
        raise InvalidArgument("public_key holds a PRIVATE key. It was not sent to OpenStack nor recorded; pass the "
                              "public half instead (the .pub file, e.g. `ssh-keygen -y -f key > key.pub`).")
    try:
        if key_type == "x509":
            x509.load_pem_x509_certificate(text.encode())
            return
        if len(text.strip().splitlines()) != 1:
            raise ValueError("several lines")
        serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:  # what cryptography raises for bad key text
        kind = "PEM X.509 certificate" if key_type == "x509" else (
            "OpenSSH public key line ('ssh-ed25519 AAAA... comment', 'ssh-rsa ...', 'ecdsa-sha2-nistp256 ...')")
        raise InvalidArgument(f"public_key is not a valid {kind}: {type(e).__name__}: {e}".rstrip(": ")) from None


def _check_create(t: Target | None, a: Mapping[str, Any]) -> None:
    _check_name(t, a)
    if a.get("public_key"):
        raise InvalidArgument("Action 'create' has Nova generate the key; to register your own public key use "
                              "action 'import'.")


def _check_import(t: Target | None, a: Mapping[str, Any]) -> None:
    _check_name(t, a)
    validate_public_key(str(a.get("public_key") or ""), _key_type(a))


def compute_microversions(conn: Any) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(min, max) compute microversion the cloud offers (None when it has no microversions)."""
    ed = conn.compute.get_endpoint_data()
    lo, hi = getattr(ed, "min_microversion", None), getattr(ed, "max_microversion", None)
    return (tuple(lo)[:2] if lo else None, tuple(hi)[:2] if hi else None)  # type: ignore[return-value]


async def _prepare_create(app: AppContext, _t: Target | None, a: Mapping[str, Any]) -> dict[str, Any]:
    if _key_type(a) != "ssh":
        raise InvalidArgument("Nova generates only ssh keys; for x509 use action 'import' with a certificate.")
    lo, hi = await app.cloud.run(compute_microversions, app.cloud.conn, doing="discovering compute microversions")
    if hi is None:
        return {"compute_microversion": None}
    if lo is not None and lo >= GENERATES_BELOW:
        raise InvalidArgument(
            f"This cloud's compute API accepts only microversions {lo[0]}.{lo[1]}+, where Nova no longer generates "
            "keypairs (it did below 2.92). Generate a key yourself (e.g. `ssh-keygen -t ed25519 -f mykey`) and call "
            "manage_keypair with action='import' and public_key set to the contents of mykey.pub.")
    use = min(hi, (GENERATES_BELOW[0], GENERATES_BELOW[1] - 1))
    return {"compute_microversion": f"{use[0]}.{use[1]}"}


def _create(c: Call) -> Any:
    mv = c.args.get("compute_microversion")
    spec: dict[str, Any] = {"name": c.args["keypair_name"]}
    if mv and tuple(int(x) for x in mv.split(".")) >= (2, 2):
        spec["type"] = "ssh"
    body = _raw.request(c.conn.compute, "POST", "/os-keypairs", quiet=True, json={"keypair": spec},
                        **({"microversion": mv} if mv else {}))
    kp = (body or {}).get("keypair") or {}
    if not kp.get("private_key"):
        raise InvalidArgument("Nova created the keypair but returned no private key (this cloud no longer generates "
                              f"keys); delete keypair '{kp.get('name') or c.args['keypair_name']}' and import a public "
                              "key instead.")
    return kp


def _import(c: Call) -> Any:
    return c.conn.compute.create_keypair(name=c.args["keypair_name"], public_key=str(c.args["public_key"]).strip(),
                                         type=_key_type(c.args))


def _name_of(result: Any) -> str:
    return str(result.get("name") if isinstance(result, Mapping) else result.name)


def _private(result: Any) -> dict[str, Any]:
    return {"private_key": result["private_key"],
            "notice": "Shown once: this private key is not stored anywhere by this server or by OpenStack. Save it "
                      "now to a file readable only by you (chmod 600)."}


def _kp_state(t: Target | None) -> str:
    assert t is not None
    return f"type {t.row.get('type') or 'ssh'}, fingerprint {t.row.get('fingerprint') or '-'}"


ACTIONS = {
    "create": Action(
        name="create", kind="keypairs", target=None, creates=True, requires=("keypair_name",), check=_check_create,
        prepare=_prepare_create, call=_create, created_id=_name_of, output=_private,
        describe=lambda _t, a: f"Have Nova generate an ssh keypair '{a.get('keypair_name')}' (private key returned once)."),
    "import": Action(
        name="import", kind="keypairs", target=None, creates=True, requires=("keypair_name", "public_key"),
        check=_check_import, call=_import, created_id=_name_of,
        describe=lambda _t, a: f"Import the {_key_type(a)} public key as keypair '{a.get('keypair_name')}'."),
    "delete": Action(
        name="delete", kind="keypairs", confirm=True, gone=True,
        call=lambda c: c.conn.compute.delete_keypair(c.target.id, ignore_missing=False),
        describe=lambda t, _a: (f"Delete keypair {t.label() if t else '?'} ({_kp_state(t)}). Instances already "
                                "running keep the key in their authorized_keys; new instances cannot use it.")),
}

MANAGE_KEYPAIR = ManagedTool(name="manage_keypair", what="keypair", target_param="keypair_name", actions=ACTIONS,
                             read_actions=("list",))
