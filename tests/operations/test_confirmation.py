"""Two-step confirmation: tokens are bound to tool, action, arguments, resolved targets and caller;
replayed, expired, tampered and unknown tokens are refused and change nothing; only hashes are stored."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.db.engine import Database, prepare_database, utcnow
from app.errors import NotPermitted
from app.services.operations import ConfirmationStore, confirm
from tests import backend
from tests.operations.helpers import Fleet
from tests.tools.conftest import call, call_error, mcp_client


class Clock:
    """The confirmation store's clock, moved by the test (expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(confirm, "utcnow", c)
    return c


@pytest.fixture
async def store(tmp_path: Path) -> ConfirmationStore:
    url = backend.database_url(tmp_path / "c.db")
    await prepare_database(url)
    db = Database(url)
    yield ConfirmationStore(db, "test", ttl_seconds=60)
    await db.dispose()


async def test_store_binds_everything_and_is_single_use(store: ConfirmationStore) -> None:
    args = {"volume_name": "v", "new_size": None}
    tok, expires = await store.issue("manage_volume", "delete", args, ["id-1"], "local")
    for tool, action, a, targets, who, why in [
        ("manage_snapshot", "delete", args, ["id-1"], "local", "manage_volume action 'delete'"),
        ("manage_volume", "extend", args, ["id-1"], "local", "action 'delete'"),
        ("manage_volume", "delete", {"volume_name": "w"}, ["id-1"], "local", "different arguments"),
        ("manage_volume", "delete", args, ["id-2"], "local", "other targets (id-1)"),
        ("manage_volume", "delete", args, ["id-1"], "bearer:abc", "another caller"),
        ("manage_volume", "delete", args, ["id-1"], "local", None),
        ("manage_volume", "delete", args, ["id-1"], "local", "already used"),
    ]:
        if why is None:
            await store.consume(tok, tool, action, a, targets, who)  # the matching call: accepted once
            continue
        with pytest.raises(NotPermitted) as e:
            await store.consume(tok, tool, action, a, targets, who)
        assert why in e.value.message and "fresh preview" in e.value.message
    with pytest.raises(NotPermitted, match="Unknown confirmation token"):
        await store.consume("confirm-forged", "manage_volume", "delete", args, ["id-1"], "local")


async def test_store_refuses_expired_tokens(store: ConfirmationStore, clock: Clock) -> None:
    tok, _ = await store.issue("manage_volume", "delete", {}, ["id-1"], "local")
    clock.advance(60)  # the TTL
    with pytest.raises(NotPermitted, match="expired"):
        await store.consume(tok, "manage_volume", "delete", {}, ["id-1"], "local")


async def test_concurrent_consumers_only_one_wins(store: ConfirmationStore) -> None:
    tok, _ = await store.issue("manage_volume", "delete", {}, ["id-1"], "local")
    second = ConfirmationStore(Database(store.db.url), "test", 60)  # another replica on the same database
    results = await asyncio.gather(*(s.consume(tok, "manage_volume", "delete", {}, ["id-1"], "local")
                                     for s in (store, second, store, second)), return_exceptions=True)
    await second.db.dispose()
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, NotPermitted) for r in results if r is not None)


async def test_replay_expiry_and_tampering_through_the_tool(fleet: Fleet, clock: Clock) -> None:
    a = fleet.server("active")
    b = next(s for s in fleet.sim.state.values("servers")
             if s["id"] != a["id"] and s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:task_state"] is None)
    async with mcp_client(fleet.settings, fleet.sim) as client:
        p = await call(client, "manage_instance", instance_name=a["name"], action="stop")
        tok = p["confirmation_token"]
        # target tampering: the token of a used for b
        e1 = await call_error(client, "manage_instance", instance_name=b["name"], action="stop", confirmation_token=tok)
        # argument tampering: same target, other action/arguments
        e2 = await call_error(client, "manage_instance", instance_name=a["name"], action="restart",
                              reboot_type="HARD", confirmation_token=tok)
        e3 = await call_error(client, "manage_instance", instance_name=a["id"], action="stop", confirmation_token=tok)
        assert fleet.sim.settle(a)["OS-EXT-STS:vm_state"] == "active"
        assert fleet.sim.settle(b)["OS-EXT-STS:vm_state"] == "active"
        ok = await call(client, "manage_instance", instance_name=a["name"], action="stop", confirmation_token=tok)
        assert ok["status"] == "accepted"
        e4 = await call_error(client, "manage_instance", instance_name=a["name"], action="stop", confirmation_token=tok)
    assert "other targets" in e1 and a["id"] in e1
    assert "action 'stop'" in e2
    assert "different arguments" in e3
    assert "already used" in e4
    outcomes = [x["outcome"] for x in fleet.audit()]
    assert outcomes == ["preview", "refused", "refused", "refused", "succeeded", "refused"]

    async with mcp_client(fleet.settings, fleet.sim) as client:
        p = await call(client, "manage_instance", instance_name=b["name"], action="stop")
        clock.advance(fleet.settings.confirmation_ttl + 1)
        e5 = await call_error(client, "manage_instance", instance_name=b["name"], action="stop",
                              confirmation_token=p["confirmation_token"])
    assert "expired" in e5 and fleet.sim.settle(b)["OS-EXT-STS:vm_state"] == "active"


async def test_name_now_resolving_elsewhere_invalidates_the_token(fleet: Fleet) -> None:
    """The preview was for volume A named 'shared'; before confirming, A is renamed and B takes the name."""
    vols = [v for v in fleet.sim.state.values("volumes") if fleet.sim.settle(v)["status"] == "available"][:2]
    a, b = vols
    a["name"] = "shared"
    from app.context import open_app_context
    async with open_app_context(fleet.settings, **fleet.sim.connect_kwargs()) as app:
        await app.sync.refresh("volumes", [a["id"]])
        async with mcp_client(fleet.settings, fleet.sim) as client:
            p = await call(client, "manage_volume", action="delete", volume_name="shared")
            a["name"], b["name"] = "renamed", "shared"
            await app.sync.refresh("volumes", [a["id"], b["id"]])
            err = await call_error(client, "manage_volume", action="delete", volume_name="shared",
                                   confirmation_token=p["confirmation_token"])
    assert "other targets" in err and a["id"] in err
    assert fleet.sim.settle(a)["status"] == "available" and fleet.sim.settle(b)["status"] == "available"


async def test_tokens_are_stored_hashed(fleet: Fleet) -> None:
    v = fleet.volume("available")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        p = await call(client, "manage_volume", action="delete", volume_name=v["name"])
    token = p["confirmation_token"].encode()
    assert token not in fleet.stored_bytes()
