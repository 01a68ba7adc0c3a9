"""Tool exposure controls (app/exposure.py): OPS_ENABLED_TOOLS / OPS_DISABLED_TOOLS by name,
OPS_READ_ONLY / OPS_DISABLE_DESTRUCTIVE by annotation, on top of ALLOW_MODIFY_OPERATIONS. Checked
through the SDK's client (tools/list and tools/call of a hidden tool), and the startup error of an
unknown name through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from app.config import Settings
from app.errors import InvalidArgument
from app.exposure import known_tool_names
from app.server import READ_TOOL_MODULES, WRITE_TOOL_MODULES, build_server

ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def no_context(_: Settings) -> AsyncIterator[Any]:
    yield None  # tools/list needs no database


async def listed(**settings: Any) -> dict[str, Any]:
    mcp, _ = build_server(Settings(**settings), context_factory=no_context)
    async with Client(mcp) as client:
        return {t.name: t for t in (await client.list_tools()).tools}


@pytest.fixture(scope="module")
def every_tool() -> dict[str, set[str]]:
    reads = known_tool_names(READ_TOOL_MODULES)
    writes = known_tool_names(WRITE_TOOL_MODULES)
    assert reads and writes and all(n.startswith("manage_") for n in writes)
    return {"reads": reads, "writes": writes}


async def test_defaults_expose_every_registered_tool(every_tool: dict[str, set[str]]) -> None:
    assert set(await listed()) == every_tool["reads"]
    assert set(await listed(ALLOW_MODIFY_OPERATIONS=True)) == every_tool["reads"] | every_tool["writes"]


async def test_enabled_list_is_an_allow_list() -> None:
    tools = await listed(OPS_ENABLED_TOOLS="get_sync_status,search_instances")
    assert set(tools) == {"get_sync_status", "search_instances"}


async def test_enabled_write_tool_still_needs_allow_modify(caplog: pytest.LogCaptureFixture) -> None:
    tools = await listed(OPS_ENABLED_TOOLS="get_sync_status,manage_instance")
    assert set(tools) == {"get_sync_status"}
    assert "ALLOW_MODIFY_OPERATIONS is off" in caplog.text
    tools = await listed(OPS_ENABLED_TOOLS="get_sync_status,manage_instance", ALLOW_MODIFY_OPERATIONS=True)
    assert set(tools) == {"get_sync_status", "manage_instance"}


async def test_disabled_list_removes_by_name(every_tool: dict[str, set[str]]) -> None:
    tools = await listed(OPS_DISABLED_TOOLS='["search_instances", "manage_stack"]', ALLOW_MODIFY_OPERATIONS=True)
    assert set(tools) == (every_tool["reads"] | every_tool["writes"]) - {"search_instances", "manage_stack"}


async def test_read_only_keeps_only_read_only_annotated_tools(every_tool: dict[str, set[str]]) -> None:
    tools = await listed(OPS_READ_ONLY=True, ALLOW_MODIFY_OPERATIONS=True)
    assert set(tools) == every_tool["reads"]
    assert all(t.annotations.read_only_hint for t in tools.values())


async def test_disable_destructive_keeps_non_destructive_writes(every_tool: dict[str, set[str]]) -> None:
    everything = await listed(ALLOW_MODIFY_OPERATIONS=True)
    destructive = {n for n, t in everything.items() if t.annotations.destructive_hint}
    assert destructive and destructive <= every_tool["writes"]
    tools = await listed(OPS_DISABLE_DESTRUCTIVE=True, ALLOW_MODIFY_OPERATIONS=True)
    assert set(tools) == set(everything) - destructive
    assert not any(t.annotations.destructive_hint for t in tools.values())


async def test_filters_combine(every_tool: dict[str, set[str]]) -> None:
    tools = await listed(OPS_ENABLED_TOOLS="get_sync_status,manage_keypair,search_instances",
                         OPS_DISABLED_TOOLS="search_instances", OPS_READ_ONLY=True, ALLOW_MODIFY_OPERATIONS=True)
    assert set(tools) == {"get_sync_status"}


async def test_hidden_tool_cannot_be_called() -> None:
    mcp, _ = build_server(Settings(OPS_DISABLED_TOOLS="get_sync_status"), context_factory=no_context)
    async with Client(mcp) as client:
        result = await client.call_tool("get_sync_status", {"kind": "servers"})
    assert result.is_error
    assert "Unknown tool" in str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize("env", ["OPS_ENABLED_TOOLS", "OPS_DISABLED_TOOLS"])
def test_unknown_name_is_a_startup_error_listing_valid_names(env: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        build_server(Settings(**{env: "get_sync_status,get_sycn_status"}), context_factory=no_context)
    msg = str(e.value.message)
    assert msg.startswith(f"{env} names no such tool: get_sycn_status. Valid tool names: ")
    assert "get_sync_status" in msg and "manage_instance" in msg


def test_unknown_name_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_"))}
    env.update({"OS_AUTH_URL": "http://127.0.0.1:9/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                "OS_PROJECT_NAME": "p", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OPS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-m", "app", "serve", "--disabled-tools", "manage_everything"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "error: OPS_DISABLED_TOOLS names no such tool: manage_everything. Valid tool names: "), proc.stderr
