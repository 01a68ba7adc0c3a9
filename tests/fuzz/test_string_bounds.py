"""Every string argument of every tool is bounded at the tool boundary (app/tools/base.py): a
``maxLength`` in the published input schema, and a refusal, with a message saying what to send, of
longer text and of control characters (a NUL used to match every server and every volume; a 50,000
character filter raised SQLite's "LIKE or GLOB pattern too complex"). Answers and errors quote at most
a short prefix of what was sent.

The property: for every read tool and each of its string parameters, a value with a control character
or over the bound is refused naming the parameter, and a printable value at the bound is answered
(result or a domain error, never a crash)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.tools.base import DOCUMENT_BOUNDS, LIST_BOUNDS, NAME_MAX, _CONTROL, _CONTROL_MULTILINE
from tests.fuzz.strategies import LoopClient
from tests.fuzz.test_tool_arguments import CRASH
from tests.tools.conftest import call, call_error, make_settings, mcp_client, server_for

MAX_ERROR = 1500  # characters: an error about a bad argument never carries the argument


def string_params(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameter -> its string schema (the ``string`` branch of a union), for every string parameter."""
    out = {}
    for name, prop in schema.get("properties", {}).items():
        for branch in [prop, *prop.get("anyOf", [])]:
            if branch.get("type") == "string" and "enum" not in branch:
                out[name] = branch
    return out


async def _tools(settings: Any, sim: Any) -> list[Any]:
    from mcp import Client

    async with Client(server_for(settings, sim)) as c:
        return (await c.list_tools()).tools


async def test_every_string_argument_of_every_tool_has_a_max_length(synced: Any, tmp_path: Any) -> None:
    writes = make_settings(tmp_path / "w.db", allow_modify_operations=True)
    tools = await _tools(writes, synced.sim)
    assert any(t.name.startswith("manage_") for t in tools)
    checked = 0
    for tool in tools:
        for name, branch in string_params(tool.input_schema).items():
            assert isinstance(branch.get("maxLength"), int), f"{tool.name}.{name} is unbounded: {branch}"
            if not tool.name.startswith("manage_"):  # read tools take names, ids, filters (or lists of them)
                assert branch["maxLength"] <= LIST_BOUNDS.max_length, (tool.name, name, branch)
            checked += 1
    assert checked > 60
    by_name = {t.name: string_params(t.input_schema) for t in tools}
    for tool, param in [("search_instances", "search_term"), ("get_volume_list", "name"),
                        ("get_network_details", "network_name"), ("get_instance_by_name", "instance_name")]:
        assert by_name[tool][param]["maxLength"] == NAME_MAX, (tool, param)
    stack = next(t for t in tools if t.name == "manage_stack")
    assert string_params(stack.input_schema)["template"]["maxLength"] == DOCUMENT_BOUNDS["template"].max_length


async def test_nul_and_control_characters_are_refused_not_matched(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        for tool, args, param in [
            ("search_instances", {"search_term": "\u0000"}, "search_term"),
            ("search_instances", {"search_term": "web\u0000", "search_in": "all"}, "search_term"),
            ("search_instances", {"search_term": "10.0", "search_in": "ip\n"}, "search_in"),
            ("get_volume_list", {"name": "\u0000"}, "name"),
            ("get_volume_list", {"project": "a\u001bb"}, "project"),
            ("get_instance_by_name", {"instance_name": "web\u007f"}, "instance_name"),
            ("get_instance_details", {"instance_names": "a,\u0000"}, "instance_names"),
            ("get_floating_ips", {"address": "\u0085"}, "address"),
        ]:
            text = await call_error(client, tool, **args)
            assert param in text and "control character" in text and "plain printable text" in text, text
            assert not CRASH.match(text) and len(text) < MAX_ERROR, text
        # printable text, including what looks like SQL or LIKE syntax, is still searched literally
        assert (await call(client, "search_instances", search_term="%_%"))["total"] == 0
        assert (await call(client, "get_volume_list", name="%"))["total"] == 0


async def test_overlong_arguments_are_refused_with_a_short_error(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        for size in (NAME_MAX + 1, 50_001, 3_500_000):
            term = "x" * size
            for tool, args, param in [("search_instances", {"search_term": term}, "search_term"),
                                      ("get_volume_list", {"name": term}, "name"),
                                      ("get_network_details", {"network_name": term}, "network_name")]:
                text = await call_error(client, tool, **args)
                assert f"{param} is too long ({size} characters; at most {NAME_MAX})" in text, text[:300]
                assert len(text) < MAX_ERROR and "x" * 100 not in text, text[:300]
        # at the bound: answered, and the answer repeats only a prefix of the term
        res = await call(client, "search_instances", search_term="w" * NAME_MAX)
        assert res["total"] == 0 and len(res["search_term"]) <= 100
        text = await call_error(client, "get_instance_by_name", instance_name="q" * NAME_MAX)
        assert "q" * 61 not in text and len(text) < MAX_ERROR


async def test_documents_keep_newlines(synced: Any, tmp_path: Any) -> None:
    """Multi-line documents (templates, public keys) may hold tab and newline; nothing else."""
    writes = make_settings(tmp_path / "w.db", allow_modify_operations=True)
    async with mcp_client(writes, synced.sim) as client:
        res = await client.call_tool("manage_stack", {"action": "list", "stack_name": "",
                                                      "template": "heat_template_version: 2018-08-31\n\tx: 1\r\n"})
        assert not res.is_error or "template" not in res.content[0].text, res.content[0].text
        text = await call_error(client, "manage_stack", action="list", stack_name="", template="a\u0000b")
        assert "template contains a control character (U+0000" in text and "tab and newline are allowed" in text


# ---------------------------------------------------------------------------------------------
# the property, over every read tool and every string parameter

printable = st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=20)
controls = st.sampled_from(["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f"])


@st.composite
def hostile(draw: Any, bound: int) -> tuple[str, str]:
    """(kind, value): a printable value with a control character spliced in, one over the bound, or a
    printable one at the bound."""
    kind = draw(st.sampled_from(["control", "long", "at_bound"]))
    base = draw(printable)
    if kind == "control":
        at = draw(st.integers(0, len(base)))
        return kind, base[:at] + draw(controls) + base[at:]
    fill = (base * (bound // len(base) + 2))
    return kind, fill[:bound + 1] if kind == "long" else fill[:bound]


def _bound_property(client: LoopClient, tool: Any, name: str, bound: int, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=hostile(bound))
    def prop(case: tuple[str, str]) -> None:
        kind, value = case
        args = {n: "x" for n in tool.input_schema.get("required", []) if n != name}
        args[name] = value
        result = client.call(lambda c: c.call_tool(tool.name, args))
        text = result.content[0].text if result.content else ""
        assert not CRASH.match(text.strip()) and "Traceback" not in text, (tool.name, name, text[:300])
        assert len(text) < 200_000, (tool.name, name, len(text))
        if kind == "at_bound":
            assert not result.is_error or f"{name} is too long" not in text, (tool.name, name, text[:300])
            return
        assert result.is_error, (tool.name, name, kind, value[:40])
        assert name in text and len(text) < MAX_ERROR, (tool.name, name, text[:300])
        assert ("too long" in text) if kind == "long" else ("control character" in text), text[:300]

    prop()


@pytest.mark.parametrize("examples", [pytest.param(6, id="default"),
                                      pytest.param(60, id="heavy", marks=pytest.mark.slow)])
def test_read_tools_refuse_control_characters_and_overlong_text(synced: Any, examples: int) -> None:
    with LoopClient(lambda: mcp_client(synced.settings, synced.sim)) as client:
        tools = [t for t in client.call(lambda c: c.list_tools()).tools if not t.name.startswith("manage_")]
        failures = {}
        for tool in tools:
            for name, branch in string_params(tool.input_schema).items():
                try:
                    _bound_property(client, tool, name, branch["maxLength"], examples)
                except Exception as e:  # noqa: BLE001 - collect, report all parameters at once
                    failures[f"{tool.name}.{name}"] = f"{type(e).__name__}: {str(e)[:800]}"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_control_character_classes() -> None:
    for ch in ["\x00", "\x1f", "\x7f", "\x85", "\x9f", "\ud800", "\udfff", "\n", "\t", "\r"]:
        assert _CONTROL.search(ch), repr(ch)
    for ch in ["\n", "\t", "\r"]:
        assert not _CONTROL_MULTILINE.search(ch)
    for ch in ["\x00", "\x0b", "\x0c", "\x1b", "\ud800"]:
        assert _CONTROL_MULTILINE.search(ch), repr(ch)
    for text in ["web-01", "名前", "🔥", "\u202eevil\u202c", "\ufeff", "%_'\\", " a b "]:
        assert not _CONTROL.search(text), repr(text)
