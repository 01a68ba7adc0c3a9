"""The hard ceiling (issue 10: "no answer over ~20,000 tokens at any argument"): every read tool, called
with the largest answer its arguments allow, stays within the budget counted as the client receives it
(text content + structured content as compact JSON), and a page cut to fit says so with the offset
where the rest starts.

The session fleet (400 instances) is too small for most pages to reach 80,000 bytes, so the second test
lowers the budget: the same cut must then happen on every paged tool."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from app.tools import answers
from tests.tools.conftest import SyncedCloud, call, mcp_client

# Arguments that make an answer bigger when raised (integers go to their schema maximum).
GROWING_INTEGERS = frozenset({"limit", "max_evidence", "lines", "runs", "count"})
GROWING_FLAGS = frozenset({"include_all", "include_rules", "include_endpoints", "all_instances", "with_events",
                           "all_resources"})
UNBOUNDED_LIMIT = 200  # a limit whose schema publishes no maximum


async def _required(client: Client) -> dict[str, dict[str, Any]]:
    """Values for the tools' required arguments, read from the synced snapshot itself."""
    servers = await call(client, "get_instance_details", all_instances=True, limit=1, detail="brief")
    server = servers["instances"][0]
    flavor = (await call(client, "get_flavor_list", limit=1))["flavors"][0]["name"]
    project = (await call(client, "get_project_list", limit=1))["projects"][0]["name"]
    lbs = (await call(client, "get_load_balancers", limit=1))["load_balancers"]
    out: dict[str, dict[str, Any]] = {
        "search_instances": {"search_term": "-", "search_in": "all"},
        "get_instance_by_name": {"instance_name": server["id"]},
        "get_instances_by_status": {"status": "ACTIVE"},
        "get_instance_history": {"instance": server["id"]},
        "get_instance_actions": {"instance": server["id"]},
        "get_console_log": {"instance": server["id"]},
        "get_quota": {"project": project},
        "plan_capacity": {"flavor": flavor},
        "get_resource": {"kind": "servers", "id_or_name": server["id"]},
        "get_network_details": {"network_name": "all"},
    }
    if lbs:
        out["get_load_balancer"] = {"name_or_id": lbs[0]["id"]}
    return out


def max_arguments(schema: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` plus every size argument of ``schema`` at the value giving the largest answer."""
    args = dict(given)
    for name, prop in (schema.get("properties") or {}).items():
        if name in args:
            continue
        if name in GROWING_INTEGERS and prop.get("type") == "integer":
            args[name] = prop.get("maximum", UNBOUNDED_LIMIT)
        elif name in GROWING_FLAGS:
            args[name] = True
        elif name == "detail":
            args[name] = "full"
        elif name == "fields" and prop.get("type") == "array":
            args[name] = list(prop["items"]["enum"])
    return args


async def _max_answers(client: Client) -> dict[str, tuple[dict[str, Any], Any]]:
    required = await _required(client)
    out = {}
    for tool in (await client.list_tools()).tools:
        if not (tool.annotations and tool.annotations.read_only_hint):
            continue
        given = required.get(tool.name, {})
        if set(tool.input_schema.get("required", [])) - set(given):
            continue  # a required value this fleet cannot supply (listed by the coverage assertion)
        args = max_arguments(tool.input_schema, given)
        result = await client.call_tool(tool.name, args)
        assert not result.is_error, (tool.name, args, result.content[0].text)
        out[tool.name] = (args, result)
    return out


def _paging(data: dict[str, Any]) -> dict[str, Any] | None:
    page = data.get("page")
    if isinstance(page, dict) and "returned" in page:
        return page
    return data if "returned" in data and "next_offset" in data else None


async def test_every_tool_at_its_largest_arguments_stays_under_the_ceiling(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        got = await _max_answers(client)
    assert {"get_instance_details", "search_instances", "monitor_resources", "get_cluster_status",
            "get_hypervisor_list", "get_volume_list", "get_port_list", "get_load_balancers"} <= set(got)
    sizes = {name: answers.answer_size(r) for name, (_, r) in got.items()}
    over = {name: n for name, n in sizes.items() if n > answers.MAX_BUDGET}
    assert not over, over
    # the 400-instance fleet fills the largest instance page past the ceiling: cut, with the rest's offset
    d = got["get_instance_details"][1].structured_content
    assert d["truncated"] and d["has_more"] and d["next_offset"] == d["returned"] < 200


@pytest.fixture
def small_ceiling(monkeypatch: pytest.MonkeyPatch) -> int:
    """The hard budget lowered to what the session fleet's big pages exceed."""
    ceiling = 6_000
    monkeypatch.setattr(answers, "MAX_BUDGET", ceiling)
    return ceiling


async def test_with_a_lower_ceiling_every_big_page_is_cut_to_fit(synced: SyncedCloud, small_ceiling: int) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        got = await _max_answers(client)
    cut = []
    for name, (args, r) in got.items():
        data = r.structured_content
        page = _paging(data)
        if page is None:
            continue  # reports and single objects are built to fit, not cut (first test)
        size = answers.answer_size(r)
        assert size <= small_ceiling or page["returned"] <= 1, (name, args, size, page)
        if page.get("truncated"):
            cut.append(name)
            offset = page.get("offset") or 0
            assert page["has_more"] and page["next_offset"] == offset + page["returned"], (name, page)
            assert f"offset={page['next_offset']}" in r.content[0].text, name
    assert {"get_instance_details", "search_instances", "get_instances_by_status", "monitor_resources",
            "get_port_list", "get_volume_list"} <= set(cut), cut
