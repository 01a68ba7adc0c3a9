"""What strict outside clients check, without Node: every read tool's ``structuredContent`` validates
against the tool's own published ``outputSchema``, and every row against its documented row schema,
formats included (the MCP Inspector validates with
ajv and its formats, and rejected every result while datetimes went out without a UTC offset)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from mcp import Client

from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests.tools.conftest import make_settings, server_for, sync_everything

# RFC 3339 (what JSON Schema's `format: date-time` means): the offset (Z or +hh:mm) is mandatory.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
FORMATS = FormatChecker()
FORMATS.checks("date-time")(lambda v: not isinstance(v, str) or bool(RFC3339.match(v)))


ROW_REF = re.compile(r"\$defs/(\w+)")


def with_rows(schema: dict[str, Any]) -> dict[str, Any]:
    """The published schema with each documented model (``$defs/<Name>``, named in the field's
    description) put back: a row list's row schema as its ``items``, a nested object's fields as its
    own: what the answer must match, checked here once even though clients validate the envelope only
    (app/tools/answers.py:flat_schema)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items() if k != "$defs"}
        types = node.get("type")
        m = ROW_REF.search(str(node.get("description", "")))
        types = types if isinstance(types, list) else [types]
        if m and "items" not in node and "array" in types:
            out["items"] = walk(defs[m.group(1)])
        elif m and "properties" not in node and "object" in types:
            documented = walk(defs[m.group(1)])
            out.update({k: v for k, v in documented.items() if k not in ("type", "description")})
        return out

    return walk(schema)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Simulator]]:
    server = SimulatorServer(Simulator(servers=60, transition_seconds=0.2))
    sim = server.start()
    try:
        settings = make_settings(tmp_path_factory.mktemp("schemas") / "snapshot.db", sql_tool_enabled=True)
        asyncio.run(sync_everything(settings, sim))
        yield settings, sim
    finally:
        server.stop()


async def test_every_read_tool_matches_its_output_schema(cloud: tuple[Any, Simulator]) -> None:
    settings, sim = cloud
    async with Client(server_for(settings, sim)) as client:
        tools = (await client.list_tools()).tools
        some = (await client.call_tool("search_instances", {"search_term": "a", "limit": 1})).structured_content
        name = some["instances"][0]["name"]
        required = {"search_instances": {"search_term": "a"}, "get_instance_by_name": {"instance_name": name},
                    "get_instances_by_status": {"status": "ACTIVE"},
                    "get_instance_details": {"instance_names": name},
                    "get_instance_history": {"instance": name}}
        active = (await client.call_tool("get_instances_by_status", {"status": "ACTIVE", "limit": 1})
                  ).structured_content["instances"][0]["name"]
        required.update({"get_quota": {"project": "admin"}, "get_instance_actions": {"instance": name},
                         "get_console_log": {"instance": active}})
        required.update({"plan_capacity": {"flavor": "m1.small", "count": 5},
                         "get_resource": {"kind": "flavors", "id_or_name": "m1.small"},
                         "get_load_balancer": {"name_or_id": "lb-0001"},
                         "query_snapshot": {"sql": "SELECT id, name, first_seen_at, raw FROM flavors"}})
        checked, with_row_schemas = [], set()
        for tool in tools:
            if not tool.output_schema or not (tool.annotations and tool.annotations.read_only_hint):
                continue
            result = await client.call_tool(tool.name, required.get(tool.name, {}))
            assert not result.is_error, (tool.name, result.content)
            for schema in (tool.output_schema, with_rows(tool.output_schema)):  # as published; rows too
                errors = sorted(Draft202012Validator(schema, format_checker=FORMATS)
                                .iter_errors(result.structured_content), key=lambda e: list(e.absolute_path))
                assert not errors, (tool.name, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]])
            checked.append(tool.name)
            if with_rows(tool.output_schema) != tool.output_schema:
                with_row_schemas.add(tool.name)
    assert {"get_cluster_status", "search_instances", "get_sync_status", "get_user_list", "plan_capacity",
            "query_snapshot", "get_port_list", "get_load_balancers", "get_load_balancer"} <= set(checked)
    assert {"search_instances", "get_instances_by_status", "get_cluster_status", "get_volume_list"} <= with_row_schemas
