"""Nova keypairs (``/os-keypairs``). List items are wrapped (``{"keypair": {...}}``); a GET body is
not, so every column source unwraps first. The API lists the calling user's keypairs; names are
unique per user, so the row id is the name. ``private_key`` (present only in a create response) is
never stored."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String

from app.resources._common import cloud_indexes, parse_ts, unwrap
from app.resources.base import Listing, ResourceSpec, snapshot_table

_kp = unwrap("keypair")

table = snapshot_table(
    "keypairs",
    Column("name", String(255), doc="Keypair name (also the row id)."),
    Column("fingerprint", String(128), doc="Public key fingerprint."),
    Column("type", String(16), doc="ssh or x509 (2.2+)."),
    Column("user_id", String(64), doc="Owner (GET at 2.10+ only; NULL from listings)."),
    Column("created_at", DateTime, doc="Creation time (GET only)."),
    *cloud_indexes("keypairs", "name", "user_id"),
    doc="Nova SSH keypairs of the polling user. The public key is in raw.keypair.public_key.",
)

SPEC = ResourceSpec(
    kind="keypairs",
    table=table,
    description="Nova keypairs",
    listing=Listing(service="compute", path="/os-keypairs", collection="keypairs", microversion="max"),
    get_path="/os-keypairs/{id}",
    get_key="keypair",
    id_key=lambda r: _kp(r)["name"],
    columns={
        "name": lambda r: _kp(r).get("name"),
        "fingerprint": lambda r: _kp(r).get("fingerprint"),
        "type": lambda r: _kp(r).get("type"),
        "user_id": lambda r: _kp(r).get("user_id"),
        "created_at": lambda r: parse_ts(_kp(r).get("created_at")),
    },
    searchable=("name",),
    filterable=("name", "user_id"),
    poll_interval=600.0,
)
