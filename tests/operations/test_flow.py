"""The generic flow and its parts: audit of every call with secrets redacted, values returned once
(never stored or logged), target resolution, the operation log tool, background tasks at shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from pydantic import Field

from app.errors import Conflict, InvalidArgument, NotFound
from app.services.operations import Action, ManagedTool, OperationResult, redact, resolve
from app.services.operations.background import BackgroundTasks
from app.tools.base import register_tool
from app.tools.manage_common import caller
from tests.operations.helpers import Fleet
from tests.tools.conftest import call, call_error, mcp_client, server_for

SECRET = "-----BEGIN FAKE PRIVATE KEY-----c2VjcmV0LWtleS1tYXRlcmlhbA"
PASSWORD = "hunter2-correct-horse"

FAKE = ManagedTool(name="manage_fake", what="volume", target_param="volume_name", actions={
    "create": Action(
        name="create", kind="volumes", target=None, creates=True, requires=("volume_name",),
        call=lambda c: c.conn.block_storage.create_volume(name=c.args["volume_name"], size=1),
        describe=lambda _t, a: f"Create volume {a['volume_name']}.",
        output=lambda _r: {"private_key": SECRET}, goal={"status": ("available",)}),
})


async def manage_fake(ctx: Context, action: str, volume_name: Annotated[str, Field()],
                      admin_password: str | None = None) -> OperationResult:
    return await FAKE.run(caller(ctx), action, {"volume_name": volume_name, "admin_password": admin_password,
                                                "nested": {"user_data": PASSWORD, "keep": "visible"}})


def test_redact() -> None:
    out = redact({"password": "p", "admin_pass": "q", "public_key": "ssh-rsa AAA", "size": 3,
                  "x": {"private_key": "k", "ok": [{"token": "t"}]}, "long": "a" * 600, "secret_ref": None})
    assert out["password"] == out["admin_pass"] == "***" and out["x"]["private_key"] == "***"
    assert out["x"]["ok"][0]["token"] == "***" and out["public_key"] == "ssh-rsa AAA" and out["size"] == 3
    assert out["long"].endswith("(600 chars)") and out["secret_ref"] is None


async def test_output_returned_once_never_stored_or_logged(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mcp = server_for(fleet.settings, fleet.sim)
    register_tool(mcp, manage_fake, title="fake", read_only=False, destructive=False, idempotent=False,
                  open_world=True)
    async with Client(mcp) as client:
        out = await call(client, "manage_fake", action="create", volume_name="k-vol", admin_password=PASSWORD)
        log = (await client.call_tool("get_operation_log", {"tool": "manage_fake"})).structured_content
    assert out["output"] == {"private_key": SECRET}
    assert fleet.sim.state.get("volumes", out["targets"][0]["id"]) is not None
    entry = log["operations"][0]
    assert entry["arguments"]["admin_password"] == "***" and entry["arguments"]["nested"]["user_data"] == "***"
    assert entry["arguments"]["nested"]["keep"] == "visible" and entry["outcome"] == "succeeded"
    data = fleet.stored_bytes()
    assert SECRET.encode() not in data and PASSWORD.encode() not in data
    assert SECRET not in caplog.text and PASSWORD not in caplog.text


async def test_resolution(fleet: Fleet) -> None:
    from app.context import open_app_context

    a, b = list(fleet.sim.state.values("volumes"))[:2]
    a["name"] = b["name"] = "dup"
    async with open_app_context(fleet.settings, **fleet.sim.connect_kwargs()) as app:
        await app.sync.refresh("volumes", [a["id"], b["id"]])
        with pytest.raises(Conflict) as e:
            await resolve(app, "volumes", "dup", what="volume", param="volume_name")
        assert a["id"] in e.value.message and b["id"] in e.value.message and "volume_name" in e.value.message
        assert (await resolve(app, "volumes", a["id"])).id == a["id"]  # an ID is exact even when names clash
        with pytest.raises(NotFound, match="Did you mean: dup"):
            await resolve(app, "volumes", "Dup")  # names are exact (case-sensitive), suggestions are offered
        with pytest.raises(InvalidArgument, match="volume_name"):
            await resolve(app, "volumes", "  ", param="volume_name")
        # an ID that the snapshot does not have yet is verified with a targeted refresh, not guessed
        sim_conn = app.cloud.conn
        vol = await app.cloud.run(lambda: sim_conn.block_storage.create_volume(name="fresh", size=1), doing="t")
        assert (await resolve(app, "volumes", vol.id)).name == "fresh"
        with pytest.raises(NotFound):
            await resolve(app, "volumes", "00000000-0000-0000-0000-000000000000")


async def test_operation_log_pages_and_filters(fleet: Fleet) -> None:
    s = fleet.server("active")
    async with mcp_client(fleet.settings, fleet.sim) as client:
        await call_error(client, "manage_instance", instance_name="nope", action="start")
        await call(client, "manage_instance", instance_name=s["name"], action="stop")
        await call(client, "manage_volume", action="list")
        page = await call(client, "get_operation_log", limit=2)
        rest = await call(client, "get_operation_log", limit=2, offset=2)
        only = (await client.call_tool("get_operation_log", {"tool": "manage_volume"})).structured_content
        bad = await call_error(client, "get_operation_log", limit=0)
    assert page["total"] == 3 and page["returned"] == 2 and page["has_more"] is True
    assert [o["outcome"] for o in page["operations"] + rest["operations"]] == ["succeeded", "preview", "refused"]
    assert rest["has_more"] is False
    assert rest["operations"][0]["error"].startswith("No live instance")
    assert [o["tool"] for o in only["operations"]] == ["manage_volume"]
    assert page["operations"][1]["targets"][0]["id"] == s["id"] and page["operations"][1]["principal"] == "local"
    assert "limit" in bad


async def test_background_tasks_are_cancelled() -> None:
    tasks = BackgroundTasks()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    t = tasks.spawn(forever(), name="x")
    await started.wait()
    assert tasks.pending == 1
    await tasks.cancel_all()
    assert t.cancelled() and tasks.pending == 0


async def test_shutdown_cancels_pending_followups(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.context import open_app_context
    from app.services.operations import converge

    monkeypatch.setattr(converge, "FOLLOWUP_DELAYS", (3600.0,))
    s = fleet.server("active")
    seen: dict[str, Any] = {}

    from app.server import build_server

    def factory(settings: Any) -> Any:
        cm = open_app_context(settings, **fleet.sim.connect_kwargs())

        class Spy:
            async def __aenter__(self) -> Any:
                seen["app"] = await cm.__aenter__()
                return seen["app"]

            async def __aexit__(self, *exc: Any) -> Any:
                seen["pending_before"] = seen["app"].tasks.pending
                r = await cm.__aexit__(*exc)
                seen["pending_after"] = seen["app"].tasks.pending
                return r
        return Spy()

    mcp, _ = build_server(fleet.settings, context_factory=factory)
    async with Client(mcp) as client:
        await call(client, "manage_instance", instance_name=s["name"], action="pause")
    assert seen["pending_before"] == 1 and seen["pending_after"] == 0
