"""Hypothesis strategies for hostile tool arguments, built from a tool's JSON input schema, and a
client that keeps one in-process MCP session open on a background event loop (hypothesis drives
synchronous test functions; the MCP client must enter and exit in one task)."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from hypothesis import strategies as st

NASTY = [
    "' OR 1=1 --", "'; DROP TABLE servers; --", '" OR ""="', "%", "_", "\\", "%_%", "\\%", "100%", "a_b", "*",
    "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "file:///etc/passwd", "~/.ssh/id_rsa",
    "\x00", "a\x00b", "\u202eevil\u202c", "\u200f\u200e", "\ufeff", "名前", "🔥", "", " ", "\n\t", "null", "None",
    "NaN", "1e309", "-1", "[]", "{}", "ACTIVE", "name", "all", "SOFT", "HARD",
]
TRAVERSAL = ["../../etc/passwd", "../" * 30 + "etc/shadow", "/proc/self/environ", "file:///etc/passwd",
             "http://169.254.169.254/latest/meta-data/", "\\\\host\\share\\x", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"]
PATHISH = re.compile(r"path|file|url|dir|uri|location|source", re.I)

strings = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"]), max_size=15),
    st.integers(1_000, 100_000).map(lambda n: "A" * n),  # huge, up to ~100 KB
    st.integers(1, 2_000).map(lambda n: "%_'\\\x00" * n),
    st.integers(200, 300).map(lambda n: "%_'\\" * (n // 4)),  # around the 255-character name bound
)
integers = st.one_of(
    st.sampled_from([0, -1, 1, 200, 201, 10_080, 10_081, -2**31, 2**31, 2**63 - 1, 2**63, -2**63 - 1, 10**30]),
    st.integers(min_value=-2**70, max_value=2**70),
)
numbers = st.one_of(integers, st.floats(allow_nan=True, allow_infinity=True))
wrong_types = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _types(schema: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    t = schema.get("type")
    if isinstance(t, str):
        out.add(t)
    elif isinstance(t, list):
        out.update(t)
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        out |= _types(sub)
    return out


def _enums(schema: dict[str, Any]) -> list[Any]:
    vals = list(schema.get("enum", []))
    if "const" in schema:
        vals.append(schema["const"])
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        vals += _enums(sub)
    return vals


def value_strategy(name: str, schema: dict[str, Any], extra_strings: list[str] = ()) -> st.SearchStrategy[Any]:
    types = _types(schema)
    parts: list[st.SearchStrategy[Any]] = []
    if enums := _enums(schema):
        parts.append(st.sampled_from(enums))
    if "string" in types or not types:
        parts.append(strings)
        if extra_strings:
            parts.append(st.sampled_from(list(extra_strings)))
        if PATHISH.search(name):
            parts.append(st.sampled_from(TRAVERSAL))
    if "integer" in types:
        parts.append(integers)
    if "number" in types:
        parts.append(numbers)
    if "boolean" in types:
        parts.append(st.booleans())
    if "array" in types:
        parts.append(st.lists(strings, max_size=5))
    parts.append(wrong_types)
    return st.one_of(*parts)


def arguments_strategy(schema: dict[str, Any], overrides: dict[str, st.SearchStrategy[Any]] | None = None,
                       extra_strings: list[str] = ()) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    overrides = overrides or {}

    def strat(n: str) -> st.SearchStrategy[Any]:
        return overrides.get(n) or value_strategy(n, props[n], extra_strings)

    req = {n: strat(n) for n in props if n in required}
    opt = {n: strat(n) for n in props if n not in required}
    valid_or_not = st.fixed_dictionaries(req, optional=opt)
    # now and then a required argument is missing or an unknown one is added
    return st.one_of(valid_or_not, valid_or_not.map(lambda d: dict(list(d.items())[1:])),
                     valid_or_not.map(lambda d: {**d, "__proto__": "x", "ctx": {"evil": 1}}))


class LoopClient:
    """One MCP client session on a private event loop thread; ``call`` is synchronous."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzz-mcp-loop", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.client: Any = None

    def __enter__(self) -> LoopClient:
        self._thread.start()
        self._stop = asyncio.Event()
        self._main_fut = asyncio.run_coroutine_threadsafe(self._main(), self._loop)
        if not self._ready.wait(60):
            raise RuntimeError("MCP client did not start")
        if self._error:
            raise self._error
        return self

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with self._factory() as client:
                self.client = client
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:  # surfaced to __enter__
            self._error = e
            self._ready.set()
            raise

    def call(self, coro_fn: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(self.client), self._loop).result(timeout)

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        try:
            self._main_fut.result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
