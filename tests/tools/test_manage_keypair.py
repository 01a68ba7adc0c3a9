"""manage_keypair through the MCP client against the simulator: create (Nova generates; the private key
is in this one result and nowhere in the database file, its WAL or the logs), import (format
validated; a pasted private key is refused and never recorded), delete (confirmed), list; the 2.92
microversion boundary is handled (generation pinned below it, or a clear refusal)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.services.manage import keypairs
from app.simulator.core import Simulator
from tests.operations.helpers import Fleet, fleet  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, make_settings, mcp_client, sync_everything


def new_key() -> tuple[str, str]:
    k = ed25519.Ed25519PrivateKey.generate()
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                              serialization.NoEncryption()).decode()
    public = k.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public + " me@laptop"


def sim_keypair(fleet: Fleet, name: str) -> dict[str, Any] | None:
    return next((k for k in fleet.sim.state.values("keypairs") if k["name"] == name), None)


async def test_create_returns_private_key_once_and_never_stores_or_logs_it(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # keystoneauth logs JSON response bodies at DEBUG
    async with mcp_client(fleet.settings, fleet.sim) as client:
        out = await call(client, "manage_keypair", keypair_name="ops-key", action="create", wait=True, timeout=10)
        listed = await call(client, "manage_keypair", keypair_name="ops-key", action="list")
        log = (await client.call_tool("get_operation_log", {"tool": "manage_keypair"})).structured_content
    private = out["output"]["private_key"]
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----") and "not stored" in out["output"]["notice"]
    assert out["status"] == "completed" and out["targets"][0]["id"] == "ops-key" and out["request_ids"]
    kp = sim_keypair(fleet, "ops-key")
    assert kp is not None and "Generated-by-Nova" in kp["public_key"]
    row = fleet.row("keypairs", "ops-key")
    assert row["fingerprint"] == kp["fingerprint"] and row["deleted_at"] is None
    assert [k["name"] for k in listed["listing"]["keypairs"]] == ["ops-key"]
    # returned once: only in that result; not in the targets, the audit, the DB file (and WAL), the logs
    assert private not in str(out["targets"]) and private not in str(log) and "private_key" not in str(log)
    body = private.splitlines()[1]  # a line of the base64 body (the PEM header alone proves nothing)
    data = fleet.stored_bytes()
    assert body.encode() not in data and private.encode() not in data
    assert body not in caplog.text
    assert any("keystoneauth" in r.name for r in caplog.records)  # logging was on: the quiet request mattered
    assert fleet.audit()[0]["arguments"].count("compute_microversion") == 1 and '"2.91"' in fleet.audit()[0]["arguments"]


async def test_import_validates_and_delete_needs_confirmation(fleet: Fleet) -> None:
    private, public = new_key()
    async with mcp_client(fleet.settings, fleet.sim) as client:
        bad = await call_error(client, "manage_keypair", keypair_name="mine", action="import",
                               public_key="ssh-rsa not-base64!")
        leaked = await call_error(client, "manage_keypair", keypair_name="mine", action="import", public_key=private)
        none = await call_error(client, "manage_keypair", keypair_name="mine", action="import")
        both = await call_error(client, "manage_keypair", keypair_name="mine", action="create", public_key=public)
        assert sim_keypair(fleet, "mine") is None
        out = await call(client, "manage_keypair", keypair_name="mine", action="import", public_key=public)
        assert out["status"] == "accepted" and out["output"] == {}
        kp = sim_keypair(fleet, "mine")
        assert kp["public_key"] == public.strip()
        assert fleet.row("keypairs", "mine")["fingerprint"] == kp["fingerprint"]
        dup = await call_error(client, "manage_keypair", keypair_name="mine", action="import", public_key=public)

        preview = await call(client, "manage_keypair", keypair_name="mine", action="delete")
        assert preview["status"] == "confirmation_required" and kp["fingerprint"] in preview["preview"][0]
        assert sim_keypair(fleet, "mine") is not None and fleet.row("keypairs", "mine")["deleted_at"] is None
        done = await call(client, "manage_keypair", keypair_name="mine", action="delete", wait=True, timeout=10,
                          confirmation_token=preview["confirmation_token"])
        assert done["status"] == "completed" and done["targets"][0]["deleted"]
        assert sim_keypair(fleet, "mine") is None and fleet.row("keypairs", "mine")["deleted_at"] is not None
    assert "not a valid OpenSSH public key" in bad
    assert "PRIVATE key" in leaked and "was not sent" in leaked
    assert "needs public_key" in none
    assert "action 'import'" in both
    assert "already exists" in dup
    body = private.splitlines()[1]
    assert body.encode() not in fleet.stored_bytes()
    assert [(a["action"], a["outcome"]) for a in fleet.audit()] == [
        ("import", "refused"), ("import", "refused"), ("import", "refused"), ("create", "refused"),
        ("import", "succeeded"), ("import", "failed"), ("delete", "preview"), ("delete", "succeeded")]


async def test_cloud_without_generation_refuses_clearly(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keypairs, "compute_microversions", lambda _conn: ((2, 93), (2, 100)))
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_keypair", keypair_name="gen", action="create")
    assert "no longer generates" in err and "action='import'" in err and "ssh-keygen" in err
    assert sim_keypair(fleet, "gen") is None and fleet.audit()[-1]["outcome"] == "refused"


async def test_old_cloud_generates_at_its_own_maximum(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(servers=5, seed=3, release="train")
    settings = make_settings(tmp_path / "t.db", allow_modify_operations=True)
    await sync_everything(settings, sim)
    async with mcp_client(settings, sim) as client:
        out = await call(client, "manage_keypair", keypair_name="train-key", action="create")
    assert "PRIVATE KEY" in out["output"]["private_key"]
    assert next(k for k in sim.state.values("keypairs") if k["name"] == "train-key")["type"] == "ssh"
    assert '"2.79"' in Fleet(sim=sim, settings=settings, db_path=tmp_path / "t.db").audit()[-1]["arguments"]
