"""The benchmark covers every tool the server registers (fast; in the default run): each read tool has
its arguments in bench/tool_args.py (a tool added without them would be called with ``{}`` or fail),
every case's arguments are valid for the tool's input schema, and a tool that pages has a case at its
largest page. The harness end to end: test_harness_selftest.py and test_bench_smoke.py (``-m bench``)."""

from __future__ import annotations

import importlib
from typing import Any

import jsonschema
import pytest
from mcp.server.mcpserver import MCPServer

from app.server import READ_TOOL_MODULES, SQL_TOOL_MODULES
from bench.tool_args import EXPECT_REFUSAL, EXTRA_CASES, SKIP_PREFIXES, TOOL_ARGS, cases

PLACEHOLDER = "x1"


def _schemas() -> dict[str, dict[str, Any]]:
    scratch: MCPServer[Any] = MCPServer("bench-tool-args")
    for name in READ_TOOL_MODULES + SQL_TOOL_MODULES:
        importlib.import_module(name).register(scratch)
    return {t.name: t.parameters for t in scratch._tool_manager.list_tools()}  # noqa: SLF001 - no public list


SCHEMAS = _schemas()
READ_TOOLS = sorted(n for n in SCHEMAS if not n.startswith(SKIP_PREFIXES))


@pytest.mark.parametrize("tool", READ_TOOLS)
def test_every_read_tool_has_benchmark_arguments(tool: str) -> None:
    assert tool in TOOL_ARGS, f"add {tool!r} with its usual arguments to TOOL_ARGS in bench/tool_args.py"
    required = set(SCHEMAS[tool].get("required", []))
    assert required <= set(TOOL_ARGS[tool]), f"{tool}: TOOL_ARGS lacks required {sorted(required - set(TOOL_ARGS[tool]))}"


def test_every_case_is_valid_for_its_tool() -> None:
    fill = {k: PLACEHOLDER for k in ("server_name", "server_id", "network_name", "flavor_name", "project_name",
                                     "provider_id", "changed_server_id", "load_balancer_id")}
    labelled = cases(READ_TOOLS, fill)
    assert {tool for _, tool, _ in labelled} == set(READ_TOOLS)
    for label, tool, args in labelled:
        jsonschema.validate(args, SCHEMAS[tool]), label
    assert EXPECT_REFUSAL <= {label for label, _, _ in labelled} | set(EXTRA_CASES)


@pytest.mark.parametrize("tool", [t for t in READ_TOOLS if "maximum" in SCHEMAS[t]["properties"].get("limit", {})])
def test_paged_tools_have_a_largest_page_case(tool: str) -> None:
    top = SCHEMAS[tool]["properties"]["limit"]["maximum"]
    assert any(t == tool and args.get("limit") == top for t, args in EXTRA_CASES.values()), \
        f"add a case '{tool} (limit={top})' calling it with limit={top} to EXTRA_CASES in bench/tool_args.py"
