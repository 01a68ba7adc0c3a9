"""Write-through finality against real upstream services (../shared/real-openstack): after a management
call the snapshot ends where OpenStack is.

* A deleted Heat stack leaves the snapshot (Heat's GET by id keeps answering it as DELETE_COMPLETE; its
  list does not): ``get_stacks`` and ``get_cluster_status`` count what Heat lists, with ``wait=true`` and
  with the background follow-up of an un-waited delete.
* A floating IP associated, disassociated and deleted with ``wait=true``: the instance's addresses in the
  snapshot end up agreeing with Nova, whose network info cache follows Neutron a little later (background
  follow-up). This cloud has no L3 agent: floating IPs stay DOWN, and associate completes on the mapping.
* A write whose target vanished out of band (404) tombstones that row.

Each test works on resources of its own (``mcpit-w-*``) and removes them; the snapshot is a copy of the
session's synced database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from .conftest import AUTH, PREFIX, Fleet, Synced, copy_db, make_settings, query, wait_for

pytestmark = [pytest.mark.real_openstack, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

FOLLOWUP_BOUND_S = 240.0  # the longest background follow-up schedule (~2 min) with room for a slow machine
TEMPLATE = {"heat_template_version": "2018-08-31", "description": "write-through suite",
            "resources": {"rand": {"type": "OS::Heat::RandomString", "properties": {"length": 8}}}}


@dataclass
class Session:
    client: Client
    app: Any
    db: Path

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        res = await self.client.call_tool(tool, arguments)
        assert not res.is_error, f"{tool} failed: {res.content[0].text if res.content else res}"
        return res.structured_content

    async def error(self, tool: str, **arguments: Any) -> str:
        res = await self.client.call_tool(tool, arguments)
        assert res.is_error, f"{tool} unexpectedly succeeded: {res.structured_content}"
        return res.content[0].text

    async def confirmed(self, tool: str, **arguments: Any) -> dict[str, Any]:
        preview = await self.call(tool, **arguments)
        assert preview["status"] == "confirmation_required", preview
        return await self.call(tool, confirmation_token=preview["confirmation_token"], **arguments)

    async def followups_done(self) -> None:
        """Every background follow-up ran to its end (they refresh with backoff until the snapshot converged)."""
        await asyncio.wait_for(self.app.tasks.join(), FOLLOWUP_BOUND_S)


@asynccontextmanager
async def session(synced: Synced, tmp_path: Path) -> AsyncIterator[Session]:
    from app.context import open_app_context
    from app.server import ServerState, build_server

    db = copy_db(synced.db_path, tmp_path / "writes.db")
    state = ServerState()
    mcp, _ = build_server(make_settings(db, allow_modify_operations=True), state=state,
                          context_factory=lambda s: open_app_context(s, **AUTH))
    async with Client(mcp) as client:
        yield Session(client=client, app=state.context, db=db)


def name(what: str) -> str:
    return f"{PREFIX}w-{what}-{uuid.uuid4().hex[:6]}"


def heat_listed(conn: Any) -> set[str]:
    return {s.id for s in conn.orchestration.stacks()}


def make_stack(conn: Any) -> Any:
    s = conn.orchestration.create_stack(name=name("stack"), template=TEMPLATE)
    return conn.orchestration.wait_for_status(s, status="CREATE_COMPLETE", failures=["CREATE_FAILED"], interval=0.5,
                                              wait=120)


def drop_stack(conn: Any, stack_id: str) -> None:
    s = conn.orchestration.find_stack(stack_id, ignore_missing=True)
    if s is not None:
        conn.orchestration.delete_stack(s)
        conn.orchestration.wait_for_delete(s, interval=0.5, wait=120)


async def check_counts_match_heat(s: Session, conn: Any, deleted: str) -> None:
    heat = heat_listed(conn)
    assert deleted not in heat
    assert query(s.db, "SELECT deleted_at IS NOT NULL, status FROM stacks WHERE id = ?", deleted)[0][0] == 1
    listed = await s.call("get_stacks", limit=200)
    assert {x["id"] for x in listed["stacks"]} == heat and listed["total"] == len(heat)
    status = await s.call("get_cluster_status")
    for _ in range(1200):  # the report after a write is rebuilt in the background: wait for the current one
        if status["computed"]["current"]:
            break
        await asyncio.sleep(0.1)
        status = await s.call("get_cluster_status")
    assert status["computed"]["current"], status["computed"]
    assert status["stacks"]["total"] == len(heat), status["stacks"]
    assert "DELETE_COMPLETE" not in status["stacks"]["by_status"]


# ------------------------------------------------------------------------------------------------
# 6: a deleted stack is a tombstone


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "followup"])
async def test_deleted_stack_leaves_the_snapshot(synced: Synced, conn: Any, fleet: Fleet, tmp_path: Path,
                                                 wait: bool) -> None:
    stack = make_stack(conn)
    try:
        async with session(synced, tmp_path) as s:
            await s.app.sync.refresh("stacks", [stack.id])
            out = await s.confirmed("manage_stack", action="delete", stack_name=stack.id, wait=wait, timeout=180)
            if wait:
                assert out["status"] == "completed" and out["targets"][0]["deleted"] is True, out
            else:
                assert out["status"] == "accepted", out
                await s.followups_done()
            # Heat itself still answers the stack by id, as DELETE_COMPLETE
            got = conn.orchestration.get(f"/stacks/{stack.id}").json()["stack"]
            assert got["stack_status"] == "DELETE_COMPLETE"
            await check_counts_match_heat(s, conn, stack.id)
    finally:
        drop_stack(conn, stack.id)


# ------------------------------------------------------------------------------------------------
# 7 + 10: floating IPs and the instance's addresses


def nova_floating(conn: Any, server_id: str) -> set[str]:
    srv = conn.compute.get_server(server_id)
    return {a["addr"] for v in (srv.addresses or {}).values() for a in v if a.get("OS-EXT-IPS:type") == "floating"}


def snapshot_floating(db: Path, server_id: str) -> set[str]:
    return {r[0] for r in query(db, "SELECT ip_address FROM server_addresses WHERE server_id = ? AND "
                                    "ip_type = 'floating'", server_id)}


async def test_instance_addresses_follow_floating_ip_changes(synced: Synced, conn: Any, fleet: Fleet,
                                                             tmp_path: Path) -> None:
    server = fleet.servers["shutoff"]
    fid = None
    try:
        async with session(synced, tmp_path) as s:
            made = await s.call("manage_floating_ip", action="create", floating_network_id=fleet.ext_net,
                                description=name("fip"), wait=True, timeout=120)
            fid, addr = made["targets"][0]["id"], made["targets"][0]["name"]
            assert made["status"] == "completed" and made["targets"][0]["status"] == "DOWN"

            # associate: done when Neutron set port_id; this cloud has no L3 agent, so it stays DOWN (said so)
            out = await s.call("manage_floating_ip", action="associate", floating_ip_id=fid,
                               instance_name=server, wait=True, timeout=120)
            assert out["status"] == "completed", out
            assert out["targets"][0]["fields"]["server_id"] == server and out["targets"][0]["status"] == "DOWN"
            assert "association is done" in out["message"]
            await s.followups_done()
            wait_for(lambda: nova_floating(conn, server), lambda a: addr in a, timeout=60, what="nova shows the fip")
            assert addr in snapshot_floating(s.db, server)
            assert snapshot_floating(s.db, server) == nova_floating(conn, server)

            out = await s.confirmed("manage_floating_ip", action="disassociate", floating_ip_id=fid, wait=True,
                                    timeout=120)
            assert out["status"] == "completed" and out["targets"][0]["fields"]["port_id"] is None
            await s.followups_done()
            assert addr not in snapshot_floating(s.db, server)
            assert snapshot_floating(s.db, server) == nova_floating(conn, server)

            await s.call("manage_floating_ip", action="associate", floating_ip_id=fid, instance_name=server,
                         wait=True, timeout=120)
            await s.followups_done()
            assert addr in snapshot_floating(s.db, server)
            out = await s.confirmed("manage_floating_ip", action="delete", floating_ip_id=fid, wait=True, timeout=120)
            assert out["status"] == "completed" and out["targets"][0]["deleted"] is True
            fid = None
            await s.followups_done()
            assert addr not in snapshot_floating(s.db, server)
            assert snapshot_floating(s.db, server) == nova_floating(conn, server)
    finally:
        if fid is not None:
            conn.network.delete_ip(fid, ignore_missing=True)


# ------------------------------------------------------------------------------------------------
# 8: a 404 on a write's target tombstones the row


async def test_confirmed_delete_of_a_volume_deleted_elsewhere(synced: Synced, conn: Any, fleet: Fleet,
                                                             tmp_path: Path) -> None:
    vol = conn.block_storage.create_volume(size=1, name=name("vol"))
    try:
        wait_for(lambda: conn.block_storage.get_volume(vol.id), lambda v: v.status == "available", what="volume")
        async with session(synced, tmp_path) as s:
            await s.app.sync.refresh("volumes", [vol.id])
            preview = await s.call("manage_volume", action="delete", volume_name=vol.id)
            conn.block_storage.delete_volume(vol.id)  # someone else, between the preview and the confirmation
            wait_for(lambda: conn.block_storage.find_volume(vol.id, ignore_missing=True), lambda v: v is None,
                     what="volume gone")
            err = await s.error("manage_volume", action="delete", volume_name=vol.id,
                                confirmation_token=preview["confirmation_token"])
            assert "no longer exists" in err and "now shows it as deleted" in err
            assert query(s.db, "SELECT deleted_at IS NOT NULL FROM volumes WHERE id = ?", vol.id) == [(1,)]
            listed = await s.call("get_volume_list", name=vol.name)
            assert listed["volumes"] == []
    finally:
        conn.block_storage.delete_volume(vol.id, ignore_missing=True)


async def test_confirmed_delete_of_a_stack_deleted_elsewhere(synced: Synced, conn: Any, fleet: Fleet,
                                                            tmp_path: Path) -> None:
    stack = make_stack(conn)
    try:
        async with session(synced, tmp_path) as s:
            await s.app.sync.refresh("stacks", [stack.id])
            preview = await s.call("manage_stack", action="delete", stack_name=stack.id)
            drop_stack(conn, stack.id)
            err = await s.error("manage_stack", action="delete", stack_name=stack.id,
                                confirmation_token=preview["confirmation_token"])
            assert "no longer exists" in err
            await check_counts_match_heat(s, conn, stack.id)
    finally:
        drop_stack(conn, stack.id)
