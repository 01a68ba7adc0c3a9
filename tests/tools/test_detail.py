"""Field selection on the wide list tools (issue 10 item 3, app/tools/detail.py): `detail='brief'` (the
default) returns lean rows that keep the "why" facts, `detail='full'` every field; the same rows either
way, the choice documented in the tool description and the input schema, and the output schema true
to brief rows (their absent fields optional)."""

from __future__ import annotations

from typing import Any

from app.tools.detail import lean_page_model
from app.tools.storage import VolumeList
from tests.tools.conftest import LEAN_TOOLS, SyncedCloud, call, call_error, mcp_client
from tests.tools.test_answers import answer_bytes

ITEMS = {"get_volume_list": "volumes", "get_network_details": "networks", "get_stacks": "stacks",
         "get_port_list": "ports", "get_hypervisor_list": "hypervisors", "get_load_balancers": "load_balancers"}
# the facts that say why a row is in trouble stay in brief rows
WHY = {"get_volume_list": {"status", "attachments"}, "get_stacks": {"status", "status_reason"},
       "get_port_list": {"status", "vif_type", "host"}, "get_hypervisor_list": {"state", "status"},
       "get_load_balancers": {"provisioning_status", "operating_status", "members_down"},
       "get_network_details": {"status", "subnets"}}


def _row_schema(tool: Any, items: str) -> dict[str, Any]:
    defs = tool.output_schema.get("$defs") or {}
    desc = tool.output_schema["properties"][items]
    ref = desc.get("items", {}).get("$ref")
    if ref:
        return defs[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    name = next(n for n in defs if f"$defs/{n} " in desc.get("description", ""))
    return defs[name]  # type: ignore[no-any-return]


async def test_brief_rows_by_default_full_on_request(synced: SyncedCloud) -> None:
    assert set(ITEMS) == LEAN_TOOLS
    async with mcp_client(synced.settings, synced.sim) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        got = {}
        for name, items in ITEMS.items():
            brief_raw = await client.call_tool(name, {"limit": 20})
            full_raw = await client.call_tool(name, {"limit": 20, "detail": "full"})
            got[name] = (brief_raw, full_raw)
        refused = await call_error(client, "get_volume_list", detail="everything")
    for name, items in ITEMS.items():
        tool = tools[name]
        brief_raw, full_raw = got[name]
        brief, full = brief_raw.structured_content[items], full_raw.structured_content[items]
        assert [r["id"] for r in brief] == [r["id"] for r in full], name
        if not brief:
            continue
        assert tool.input_schema["properties"]["detail"]["enum"] == ["brief", "full"], name
        assert tool.input_schema["properties"]["detail"]["default"] == "brief", name
        assert "detail='brief' (default) gives" in (tool.description or ""), name
        row = _row_schema(tool, items)
        brief_keys = set(brief[0])
        assert WHY[name] <= brief_keys, name
        assert brief_keys < set(full[0]) <= set(row["properties"]), name
        assert set(row.get("required", [])) <= brief_keys, (name, row.get("required"))  # absent fields optional
        assert all(set(r) == brief_keys for r in brief), name
        assert answer_bytes(brief_raw) < answer_bytes(full_raw), name
    assert "detail" in refused
    assert all(got[name][0].structured_content[items] for name, items in ITEMS.items()), "every kind has rows"


async def test_a_full_page_past_the_budget_is_cut(synced: SyncedCloud, monkeypatch: Any) -> None:
    from app.tools import answers

    monkeypatch.setattr(answers, "MAX_BUDGET", 4_000)
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await client.call_tool("get_port_list", {"limit": 200, "detail": "full"})
        rest = await call(client, "get_port_list", limit=5, offset=r.structured_content["page"]["next_offset"])
    page = r.structured_content["page"]
    assert page["truncated"] and page["has_more"] and page["next_offset"] == page["returned"] < 200
    assert answer_bytes(r) <= 4_000
    assert rest["page"]["offset"] == page["returned"]


def test_the_lean_model_keeps_names_and_makes_other_fields_optional() -> None:
    lean = lean_page_model(VolumeList, frozenset({"id", "name", "status"}))
    schema = lean.model_json_schema(mode="serialization")
    row = schema["$defs"]["Volume"]
    assert set(row.get("required", [])) <= {"id", "name", "status"}
    assert "Only with detail='full'" in row["properties"]["attachments"]["description"]
