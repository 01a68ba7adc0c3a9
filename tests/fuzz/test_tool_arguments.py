"""Hostile arguments for every tool, discovered at run time from ``tools/list``: wrong types, ~100 KB
strings, unicode with NULs and RTL marks, negative and huge integers, SQL metacharacters and path
traversal (strings over a parameter's maxLength or with control characters are refused at the boundary:
tests/fuzz/test_string_bounds.py). Every call must end in a result or a clear tool error (``is_error`` with a message) -- never
a crash (the SDK's bare ``Error executing tool X``), a traceback or a protocol error -- and the cloud
must not change. Management tools run with writes enabled but never with a valid confirmation token.

Default: ~25 examples per tool; ``-m slow`` runs the heavier profile."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.simulator.core import Simulator
from tests.faults.helpers import FaultRule
from tests.fuzz.strategies import NASTY, LoopClient, arguments_strategy
from tests.tools.conftest import make_settings, mcp_client, sync_everything

CRASH = re.compile(r"^(Error executing tool \S+\s*)+$")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def fingerprint(sim: Simulator) -> str:
    """What exists in the cloud and in which state (ids, status, size, name per kind)."""
    with sim.state.lock:
        view = {k: sorted((rid, str(r.get("status")), str(r.get("size")), str(r.get("name")))
                          for rid, r in coll.items()) for k, coll in sim.state.kinds.items()}
    return json.dumps(view, sort_keys=True)


class WriteCounter(FaultRule):
    """Never fires; counts write requests other than token issue."""

    def __init__(self) -> None:
        super().__init__(pattern=".*")
        self.writes: list[tuple[str, str]] = []

    def matches(self, method: str, path: str, rng: Any) -> bool:
        if method.upper() in WRITE_METHODS and not path.endswith("/auth/tokens"):
            self.writes.append((method, path))
        return False


def check_result(tool: str, args: dict[str, Any], result: Any) -> None:
    shown = {k: (v[:60] + "..." if isinstance(v, str) and len(v) > 60 else v) for k, v in args.items()}
    if result.is_error:
        assert result.content, f"{tool}{shown}: error without a message"
        text = result.content[0].text
        assert text and not CRASH.match(text.strip()), f"{tool}{shown}: internal error {text!r}"
        assert "Traceback" not in text, f"{tool}{shown}: traceback leaked: {text[:500]}"
        # arguments are bounded at the tool boundary and never echoed beyond a short prefix
        assert len(text) < 5_000, f"{tool}{shown}: runaway error message ({len(text)} chars): {text[:300]}"
    else:
        assert result.structured_content is not None, f"{tool}{shown}: no structured content"


def fuzz_tools(client: LoopClient, tools: list[Any], examples: int, extra_strings: list[str],
               overrides: Callable[[str], dict[str, Any]] = lambda _n: {}) -> dict[str, str]:
    """Run the property for each tool; return {tool: failure} (each tool fuzzed even if another fails)."""
    failures: dict[str, str] = {}
    for tool in tools:
        strat = arguments_strategy(tool.input_schema, overrides(tool.name), extra_strings)

        try:
            _property(client, tool.name, strat, examples)()
        except Exception as e:  # noqa: BLE001 - collect, report all tools at once
            failures[tool.name] = f"{type(e).__name__}: {str(e)[:1500]}"
    return failures


def _property(client: LoopClient, name: str, strat: Any, examples: int) -> Callable[[], None]:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(args=strat)
    def prop(args: dict[str, Any]) -> None:
        result = client.call(lambda c: c.call_tool(name, args))
        check_result(name, args, result)

    return prop


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def _read_tools(synced: Any, examples: int) -> None:
    sim = synced.sim
    real = [r["name"] for r in list(sim.state.values("servers"))[:2]] + list(sim.state.coll("servers"))[:1]
    before = fingerprint(sim)
    with LoopClient(lambda: mcp_client(synced.settings, sim)) as client:
        tools = [t for t in client.call(lambda c: c.list_tools()).tools if not t.name.startswith("manage_")]
        assert len(tools) >= 10, [t.name for t in tools]
        failures = fuzz_tools(client, tools, examples, real)
    assert fingerprint(sim) == before, "a read tool changed the cloud"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_read_tools_survive_hostile_arguments(synced: Any) -> None:
    _read_tools(synced, EXAMPLES)


@pytest.mark.slow
def test_read_tools_survive_hostile_arguments_heavy(synced: Any) -> None:
    _read_tools(synced, 300)


def _manage_tools(make_sim: Callable[..., Simulator], tmp_path: Path, examples: int) -> None:
    import asyncio

    sim = make_sim(servers=20, seed=31)
    sim.advance(3600)
    settings_ = make_settings(tmp_path / "m.db", allow_modify_operations=True)
    results = asyncio.run(sync_everything(settings_, sim))
    assert all(r.ok for r in results.values())
    counter = WriteCounter()
    sim.faults.insert(0, counter)
    # real targets, so that a delete / HARD restart reaches its confirmation check with a bogus token
    real = [r["name"] for r in list(sim.state.values("servers"))[:2]]
    real += [r.get("name") or r["id"] for r in list(sim.state.values("volumes"))[:2]]
    real += [r.get("name") or r["id"] for r in list(sim.state.values("snapshots"))[:1]]
    # actions that never execute without a valid confirmation (or that only read); anything else
    # comes from the hostile string pool and must be refused
    safe_actions = st.one_of(st.sampled_from(["list", "delete", "restart"]), st.sampled_from(NASTY))
    tokens = st.one_of(st.none(), st.sampled_from(NASTY), st.text(max_size=64),
                       st.from_regex(r"[A-Za-z0-9_\-]{20,64}", fullmatch=True))
    reboot = st.sampled_from(["HARD", "hard", " HARD", "HARD\x00", "'; --"])

    def overrides(_name: str) -> dict[str, Any]:
        return {"action": safe_actions, "confirmation_token": tokens, "reboot_type": reboot,
                "wait": st.just(False)}

    before = fingerprint(sim)
    with LoopClient(lambda: mcp_client(settings_, sim)) as client:
        tools = [t for t in client.call(lambda c: c.list_tools()).tools if t.name.startswith("manage_")]
        if not tools:
            pytest.skip("no management tools registered")
        failures = fuzz_tools(client, tools, examples, real, overrides)
    assert not counter.writes, f"a write reached OpenStack: {counter.writes[:5]}"
    assert fingerprint(sim) == before, "a management tool changed the cloud without confirmation"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_management_tools_refuse_hostile_arguments(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    _manage_tools(make_sim, tmp_path, EXAMPLES)


@pytest.mark.slow
def test_management_tools_refuse_hostile_arguments_heavy(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    _manage_tools(make_sim, tmp_path, 300)
