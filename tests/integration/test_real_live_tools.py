"""The live instance tools against real Nova: ``get_instance_actions`` ("who stopped this server?")
and ``get_console_log`` (the fake virt driver has a console) answer what openstacksdk reads from the
same endpoints, field by field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.context import open_app_context
from app.services.instance_live import clean_console, get_console_log, get_instance_actions

from .conftest import AUTH, Fleet, make_settings, run_sync

pytestmark = pytest.mark.real_openstack


@pytest.fixture(scope="module")
def settings(conn: Any, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Its own snapshot of the kinds these tools resolve names with (not the session's ``synced``, whose
    before/after comparisons must not be taken before the other modules change the cloud)."""
    settings = make_settings(tmp_path_factory.mktemp("live") / "snapshot.db")
    results, _ = asyncio.run(run_sync(settings, ["servers", "users", "projects"]))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, "succeeded")
    return settings


async def test_instance_actions_say_who_did_what(settings: Any, conn: Any, fleet: Fleet) -> None:
    sid = fleet.servers["shutoff"]
    truth = list(conn.compute.server_actions(sid))
    assert any(a.action == "stop" for a in truth), "the fleet's shutoff server has no stop action in Nova"
    async with open_app_context(settings, **AUTH) as app:
        got = await get_instance_actions(app, sid, None, 50, 0, True)
        stops = await get_instance_actions(app, sid, "stop", 50, 0, False)
    assert got.instance_id == sid and got.page.total == len(truth)
    assert [(a.action, a.request_id, a.user_id, a.project_id) for a in got.actions] == \
           [(a.action, a.request_id, a.user_id, a.project_id) for a in truth]
    assert all(a.action == "stop" for a in stops.actions) and stops.actions
    admin = conn.identity.find_user("admin")
    stop = stops.actions[0]
    assert stop.user_id == admin.id and stop.user_name == "admin", stop
    assert "stop" in got.summary or "create" in got.summary
    # events of an action with details, as Nova lists them
    newest = got.actions[0]
    detail = conn.compute.get_server_action(newest.request_id, sid)
    assert newest.events is not None
    assert sorted(e.event for e in newest.events) == sorted(e["event"] for e in detail.events)
    assert {e.event: e.result for e in newest.events} == {e["event"]: e["result"] for e in detail.events}


async def test_console_log_is_the_servers_console(settings: Any, conn: Any, fleet: Fleet) -> None:
    sid = fleet.servers["active"]
    raw = conn.compute.get_server_console_output(sid, length=50)["output"]
    assert raw, "real Nova's fake driver returned no console output"
    want, _ = clean_console(raw)
    async with open_app_context(settings, **AUTH) as app:
        log = await get_console_log(app, sid, 50)
    assert log.output.splitlines() == want[-50:] and log.truncated is False
    assert log.bytes == len(log.output.encode())
