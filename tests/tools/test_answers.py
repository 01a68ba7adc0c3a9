"""Answers shaped for assistants (issue 10, docs/answers.md): a size budget enforced on every answer,
a summary as the text content (not a JSON copy), the Nova fault on ERROR instances, flat output
schemas, and bounds/enums in input schemas refused with clear errors."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
import pytest
from jsonschema import Draft202012Validator
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from app.services.models import PageInfo
from app.tools import answer_text, answers
from tests.tools.conftest import SyncedCloud, call, call_error, mcp_client


def answer_bytes(result: Any) -> int:
    text = sum(len(c.text.encode()) for c in result.content)
    return text + len(pydantic_core.to_json(result.structured_content))


# --- the budget, on a result model of its own (deterministic) --------------------------------------


class Row(BaseModel):
    id: str
    name: str
    blob: str


class RowPage(PageInfo):
    rows: list[Row]


def page(n: int, width: int, offset: int = 0) -> RowPage:
    rows = [Row(id=f"id-{i:04d}", name=f"row-{i:04d}", blob="x" * width) for i in range(offset, offset + n)]
    return RowPage(**PageInfo.of(1000, n, offset, n).model_dump(), rows=rows)


def test_a_page_over_the_budget_is_truncated_with_the_next_offset() -> None:
    r = answers.shape(page(100, 500, offset=40), budget=answers.DEFAULT_BUDGET)
    d = r.structured_content
    assert d["truncated"] is True and d["has_more"] is True
    assert 1 <= d["returned"] == len(d["rows"]) < 100
    assert d["next_offset"] == 40 + d["returned"]
    assert [x["id"] for x in d["rows"]] == [f"id-{i:04d}" for i in range(40, 40 + d["returned"])]  # a prefix
    assert answer_bytes(r) <= answers.DEFAULT_BUDGET
    text = r.content[0].text
    assert f"offset={d['next_offset']}" in text and "Truncated" in text
    # the budget is used, not wasted: one more row (its JSON, a comma, its text line) would not have fitted
    row = d["rows"][-1]
    row_cost = len(pydantic_core.to_json(row)) + 1 + len(answers.row_line(row).encode()) + 1
    assert answer_bytes(r) + row_cost > answers.DEFAULT_BUDGET - answers.FRESHNESS_SLACK


def test_a_page_within_the_budget_is_untouched() -> None:
    r = answers.shape(page(10, 100), budget=answers.DEFAULT_BUDGET)
    d = r.structured_content
    assert d["truncated"] is False and d["returned"] == 10 and d["next_offset"] == 10
    assert len(r.content) == 1
    lines = r.content[0].text.splitlines()
    assert lines[0] == "10 of 1000 rows."
    assert all(any(f"id-{i:04d}" in ln for ln in lines) for i in range(10))  # one line per row
    assert not r.content[0].text.lstrip().startswith("{")  # a summary, not a JSON copy


def test_the_small_budget_applies_to_default_sizes_only() -> None:
    defaults = {"limit": 50, "detail": "brief", "offset": 0}
    assert answers.budget_for({"limit": 50, "detail": "brief", "offset": 900}, defaults) == answers.DEFAULT_BUDGET
    assert answers.budget_for({"limit": 200, "detail": "brief"}, defaults) == answers.MAX_BUDGET
    assert answers.budget_for({"limit": 50, "detail": "full"}, defaults) == answers.MAX_BUDGET


def test_flat_schema_documents_nested_models_and_folds_nullable() -> None:
    class Inner(BaseModel):
        a: int | None
        title: str

    class Outer(BaseModel):
        inner: Inner | None = Field(description="The inner one.")
        other: Inner
        items: list[Inner]
        by_name: dict[str, Inner]
        n: int | None

    flat = answers.flat_schema(Outer.model_json_schema())
    text = json.dumps(flat)
    assert "$ref" not in text and "anyOf" not in text
    assert flat["properties"]["n"]["type"] == ["integer", "null"]
    # a nested model is validated as an object; its schema is documentation in $defs, named by the field
    inner = flat["properties"]["inner"]
    assert inner["type"] == ["object", "null"] and "properties" not in inner
    assert inner["description"].startswith("The inner one.") and "$defs/Inner" in inner["description"]
    assert flat["properties"]["other"]["type"] == "object" and "$defs/Inner" in flat["properties"]["other"]["description"]
    assert flat["properties"]["by_name"]["additionalProperties"]["type"] == "object"
    # a list of objects is validated as a list; its row schema is documentation in $defs
    rows = flat["properties"]["items"]
    assert rows["type"] == "array" and "items" not in rows and "$defs/Inner" in rows["description"]
    assert flat["$defs"]["Inner"]["properties"]["a"]["type"] == ["integer", "null"]
    assert "title" in flat["$defs"]["Inner"]["properties"]  # a property named title stays
    Draft202012Validator.check_schema(flat)
    ok = {"inner": None, "other": {"a": 1, "title": "x"}, "items": [{"a": 1, "title": "x"}], "by_name": {}, "n": 2}
    assert not list(Draft202012Validator(flat).iter_errors(ok))
    assert list(Draft202012Validator(flat).iter_errors({**ok, "other": "not an object"}))


# --- through the real server ---------------------------------------------------------------------


async def test_big_pages_are_truncated_within_the_hard_budget(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await client.call_tool("get_instance_details", {"all_instances": True, "limit": 200, "include_all": True})
        d = r.structured_content
        assert d["truncated"] and d["has_more"] and d["returned"] < 200 and d["next_offset"] == d["returned"]
        assert answer_bytes(r) <= answers.MAX_BUDGET
        # the rest starts exactly where the truncated page stopped
        rest = await call(client, "get_instance_details", all_instances=True, limit=5, offset=d["next_offset"])
        whole = await call(client, "get_instance_details", all_instances=True, limit=d["returned"] + 5,
                           detail="brief")
    ids = [i["id"] for i in d["instances"]] + [i["id"] for i in rest["instances"]]
    assert ids == [i["id"] for i in whole["instances"]]


async def test_default_answers_fit_the_small_budget(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        tools = [t for t in (await client.list_tools()).tools if not t.name.startswith("manage_")]
        sizes = {}
        needed = {"get_instance_details": {"all_instances": True}, "search_instances": {"search_term": "a"},
                  "get_instances_by_status": {"status": "ACTIVE"}}
        for t in tools:
            args = needed.get(t.name, {})
            if set(t.input_schema.get("required", [])) - set(args):
                continue
            r = await client.call_tool(t.name, args)
            assert not r.is_error, (t.name, r.content[0].text)
            sizes[t.name] = answer_bytes(r)
    assert sizes and all(n <= answers.DEFAULT_BUDGET for n in sizes.values()), sizes


async def test_text_is_a_summary_with_one_line_per_row(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await client.call_tool("search_instances", {"search_term": "web", "limit": 7})
        st = await client.call_tool("get_cluster_status", {})
    d = r.structured_content
    text = r.content[0].text
    assert len(r.content) == 1 and not text.lstrip().startswith("{")
    assert text.splitlines()[0] == f"7 of {d['total']} instances."
    for inst in d["instances"]:
        line = next(ln for ln in text.splitlines() if inst["id"] in ln)
        assert inst["name"] in line and f"status={inst['status']}" in line
    assert f"offset={d['next_offset']}" in text
    summary = st.structured_content["summary"]
    assert st.content[0].text.startswith(summary) and "Health score" in summary


async def test_error_instances_carry_their_nova_fault(synced: SyncedCloud) -> None:
    errors = {s["id"]: s for s in synced.sim.state.values("servers") if s["status"] == "ERROR" and s.get("_fault")}
    assert errors, "the fleet has ERROR servers with a fault"
    async with mcp_client(synced.settings, synced.sim) as client:
        brief = await call(client, "get_instances_by_status", status="ERROR", limit=200)
        one = next(iter(errors))
        full = await call(client, "get_instance_details", instance_ids=one)
        by_name = await call(client, "get_instance_by_name", instance_name=one)
        text = (await client.call_tool("get_instances_by_status", {"status": "error", "limit": 200})).content[0].text
    got = {i["id"]: i for i in brief["instances"]}
    assert set(errors) <= set(got)
    for sid, s in errors.items():
        code, _created, message = s["_fault"]
        fault = got[sid]["fault"]
        assert fault["message"] == message and fault["code"] == code and fault["created"].endswith("Z")
        assert message.split()[0] in next(ln for ln in text.splitlines() if sid in ln)
    assert full["instances"][0]["fault"]["message"] == errors[one]["_fault"][2]
    assert full["instances"][0]["fault"]["details"]  # the traceback, with detail='full'
    assert by_name["instance"]["fault"]["code"] == errors[one]["_fault"][0]
    healthy = await _first_active(synced)
    async with mcp_client(synced.settings, synced.sim) as client:
        ok = await call(client, "get_instance_details", instance_ids=healthy)
    assert ok["instances"][0]["fault"] is None


async def _first_active(synced: SyncedCloud) -> str:
    return next(s["id"] for s in synced.sim.state.values("servers") if s["status"] == "ACTIVE")


async def test_brief_and_full_items(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        brief = await call(client, "search_instances", search_term="web", limit=3)
        full = await call(client, "search_instances", search_term="web", limit=3, detail="full")
        bad = await call_error(client, "search_instances", search_term="web", detail="everything")
    assert set(brief["instances"][0]) == {"id", "name", "status", "task_state", "host", "flavor_name", "ips", "fault"}
    assert {"flavor", "image", "project_name", "addresses", "created_at"} <= set(full["instances"][0])
    assert [i["id"] for i in brief["instances"]] == [i["id"] for i in full["instances"]]
    assert "detail" in bad


async def test_why_facts_in_reports(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        svc = await call(client, "get_service_status", only_problems=True)
        mon = await call(client, "monitor_resources", limit=200)
    assert svc["down"] and all(d["why"] and "heartbeat" in d["why"] for d in svc["down"])
    assert all(s["why"].startswith("disabled") or "disabled" in s["why"] for s in svc["services"]
               if s["status"] == "disabled")
    assert "down" in svc["summary"] and svc["down"][0]["host"] in svc["summary"]
    placed: dict[str, int] = {}
    for s in synced.sim.state.values("servers"):
        h = s.get("OS-EXT-SRV-ATTR:hypervisor_hostname")
        if h:
            placed[h] = placed.get(h, 0) + 1
    for h in mon["hypervisors"]:
        assert h["running_vms"] == placed.get(h["hypervisor_hostname"], 0)
    assert all(h["running_vms"] is not None for h in mon["top_hypervisors"])


async def test_schemas_are_flat_and_carry_bounds_and_enums(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        refused = {
            "limit": await call_error(client, "search_instances", search_term="web", limit=500),
            "search_in": await call_error(client, "search_instances", search_term="web", search_in="colour"),
            "status": await call_error(client, "get_instances_by_status", status="RUNNING"),
            "max_evidence": await call_error(client, "get_cluster_status", max_evidence=51),
        }
    for name in ("get_instance_details", "search_instances", "get_cluster_status", "monitor_resources",
                 "get_volume_list", "get_service_status"):
        text = json.dumps(tools[name].output_schema)
        assert "$ref" not in text and "anyOf" not in text, name
    search = tools["search_instances"].input_schema["properties"]
    assert search["limit"]["minimum"] == 1 and search["limit"]["maximum"] == 200
    assert search["search_in"]["enum"][0] == "name" and "all" in search["search_in"]["enum"]
    assert search["detail"]["enum"] == ["brief", "full"]
    assert "ERROR" in tools["get_instances_by_status"].input_schema["properties"]["status"]["enum"]
    assert tools["get_cluster_status"].input_schema["properties"]["max_evidence"]["maximum"] == 50
    assert "between 1 and 200" in refused["limit"]
    assert "search_in must be one of" in refused["search_in"]
    assert "Valid Nova statuses" in refused["status"] and "ERROR" in refused["status"]
    assert "between 1 and 50" in refused["max_evidence"]


class NestedPage(BaseModel):
    summary: str
    counts: list[Row]  # a short list of objects ahead of the rows, as get_changes has
    page: PageInfo
    changes: list[Row]


def test_a_page_object_nested_in_the_result_is_truncated_too() -> None:
    rows = [Row(id=f"id-{i:04d}", name=f"row-{i:04d}", blob="y" * 500) for i in range(100)]
    counts = [Row(id="k", name="servers", blob="")]
    r = answers.shape(NestedPage(summary="100 changes.", counts=counts, page=PageInfo.of(300, 100, 0, 100),
                                 changes=rows), budget=answers.DEFAULT_BUDGET)
    d = r.structured_content
    assert d["counts"] == [counts[0].model_dump()]
    assert d["page"]["truncated"] and d["page"]["returned"] == len(d["changes"]) < 100
    assert d["page"]["next_offset"] == d["page"]["returned"] and d["page"]["has_more"]
    assert r.content[0].text.startswith("100 changes.") and f"offset={d['page']['next_offset']}" in r.content[0].text
    assert answer_bytes(r) <= answers.DEFAULT_BUDGET


def test_a_change_row_says_what_changed_first() -> None:
    """get_changes / get_instance_history rows: the text line carries the before/after values (the fact the
    row is about), the columns an operator looks at first leading, before the line's length cap."""
    base = {"at": "2026-12-01T09:00:00Z", "kind": "servers", "id": "i-1", "name": "web-1", "project_id": "p" * 32}
    changed = answers.row_line({**base, "change": "changed",
                                "before": {"power_state": 1, "status": "ACTIVE", "host": "c1"},
                                "after": {"power_state": 4, "status": "ERROR", "host": "c2"}})
    assert changed.startswith("web-1 (i-1): changed: status ACTIVE->ERROR, host c1->c2, power_state 1->4;"), changed
    assert "kind=servers" in changed and "before=" not in changed and "change=" not in changed
    created = answers.row_line({**base, "change": "created", "before": None, "after": {"status": "BUILD", "flavor_name": "m1"}})
    assert created.startswith("web-1 (i-1): created: status=BUILD, flavor_name=m1;"), created
    deleted = answers.row_line({**base, "change": "deleted", "before": {"status": "ACTIVE"}, "after": None})
    assert deleted.startswith("web-1 (i-1): deleted: status was ACTIVE;"), deleted
    assert len(answers.row_line({**base, "change": "changed", "before": {"status": "x" * 500},
                                 "after": {"status": "y"}})) <= answers.LINE_MAX


@pytest.mark.parametrize("value", ["plain", "two  spaces", " lead", "trail ", "tab\there", "line\nbreak",
                                   "nbsp\u00a0here", "em\u2003space", "", "é-accent", 12, 1.5, True])
def test_scalar_folds_whitespace_as_before(value: Any) -> None:
    import re
    expected = ("yes" if value else "no") if isinstance(value, bool) else (
        f"{value:g}" if isinstance(value, float) else re.sub(r"\s+", " ", str(value)).strip())
    assert answer_text._scalar(value) == expected


def test_row_lines_are_kept_by_row_and_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row's text line is a function of its JSON alone: a row asked for again reuses its line (the
    same text as computed afresh), a changed row gets its own, and the memo never holds more than its
    byte bound."""
    monkeypatch.setattr(answer_text, "_lines_memo", {})
    monkeypatch.setattr(answer_text, "_lines_memo_bytes", 0)
    first = answers.shape(page(10, 100), budget=answers.MAX_BUDGET).content[0].text
    assert len(answer_text._lines_memo) == 10
    again = answers.shape(page(10, 100), budget=answers.MAX_BUDGET).content[0].text
    assert again == first and len(answer_text._lines_memo) == 10
    changed = page(10, 100)
    changed.rows[3].name = "renamed"
    text = answers.shape(changed, budget=answers.MAX_BUDGET).content[0].text
    assert "renamed" in text and "row-0003" not in text
    assert len(answer_text._lines_memo) == 11
    monkeypatch.setattr(answer_text, "LINE_MEMO_BYTES", 5_000)
    for offset in range(0, 400, 40):
        answers.shape(page(40, 50, offset=offset), budget=answers.MAX_BUDGET)
        assert answer_text._lines_memo_bytes <= 5_000
        assert answer_text._lines_memo_bytes == sum(len(k) + len(v) for k, v in answer_text._lines_memo.items())
    lines = answers.shape(page(40, 50, offset=360), budget=answers.MAX_BUDGET).content[0].text.splitlines()
    assert lines[-40:] == [answers.row_line(r.model_dump(mode="json")) for r in page(40, 50, offset=360).rows]


@pytest.mark.parametrize("n", [0, 1, 7])
def test_answer_bytes_are_counted_exactly_without_serializing_the_rows_again(n: int) -> None:
    """The budget cut sums the rows' own JSON sizes: that sum is the size of the whole, byte for byte,
    whatever the rows hold (non-ASCII text, escapes, floats, nesting, nulls)."""
    rows = [{"id": f"id-{i}", "name": f'vm-é-{i} "quoted"\n\t', "ratio": 1e16 / (i + 3), "none": None,
             "tags": ["a", {"k": [1, 2.5, True]}], "at": "2026-12-02T05:00:00Z"} for i in range(n)]
    data = {"summary": "x", "rows": rows, "page": {"returned": n}}
    sizes = [answer_text.line_and_size(r)[1] for r in rows]
    text = "summary\n" + "\n".join(answer_text.line_and_size(r)[0] for r in rows)
    result = CallToolResult(content=[TextContent(text=text)], structured_content=data)
    assert answers._answer_bytes(data, "rows", sizes, text) == answers.answer_size(result)
