"""The server under measurement, for the tools and firstcall steps: built in this process (the SDK's
in-process client, with the time inside each tool function recorded) or reached over streamable-http."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.tool_args import EXPECT_REFUSAL


@asynccontextmanager
async def recording_context(settings: Any, auth_url: str, handler_ms: dict[str, list[float]],
                            holder: dict[str, Any]) -> AsyncIterator[Any]:
    """open_app_context whose tool-latency histogram also records raw samples (the time spent in the
    tool function itself, measured by app.tools.base); the context is left in ``holder['ctx']``."""
    from app.context import open_app_context
    from bench.worker import connect_kwargs

    async with open_app_context(settings, **connect_kwargs(auth_url)) as ctx:
        hist = ctx.metrics.tool_latency
        orig = hist.observe

        def observe(value: float, *labels: str) -> None:
            handler_ms[labels[0] if labels else "?"].append(value * 1000)
            orig(value, *labels)

        hist.observe = observe
        holder["ctx"] = ctx
        try:
            yield ctx
        finally:
            holder.pop("ctx", None)


def target_for(a: argparse.Namespace, handler_ms: dict[str, list[float]],
               holder: dict[str, Any] | None = None) -> Any:
    """What ``mcp.Client`` connects to: ``a.url`` over streamable-http, else a server built here on
    ``a.db_url`` (poller off)."""
    if a.url:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        return streamable_http_client(a.url.rstrip("/") + "/mcp", http_client=httpx2.AsyncClient(timeout=60))
    from app.server import build_server
    from bench.worker import settings_for

    held = {} if holder is None else holder
    target, _ = build_server(settings_for(a.db_url),
                             context_factory=lambda s: recording_context(s, a.auth_url, handler_ms, held))
    return target


async def settled(holder: dict[str, Any], timeout: float = 300.0) -> float | None:
    """Wait until the server's report warmer has finished its first round in every served cloud (seconds
    waited; None for a server reached over HTTP, which this process cannot look into). A fresh process
    computes the reports and the instance match sets of the whole fleet on a worker thread first: several
    seconds at 100,000 instances during which calls share the CPU (and the GIL) with it, so warm calls
    timed then measure that instead. A warmer that has not finished by ``timeout`` is reported and the
    run goes on."""
    ctx = holder.get("ctx")
    return None if ctx is None else await warmed(ctx, timeout)


async def warmed(ctx: Any, timeout: float = 300.0) -> float:
    """:func:`settled` for an application context this process opened itself (the sync steps)."""
    t0 = time.monotonic()
    warmers = [view.warmer for _label, view in ctx.for_all()]
    while any(w.built is None for w in warmers):
        if time.monotonic() - t0 > timeout:
            print(f"bench: the report warmer has not finished its first round after {timeout:.0f} s; timing anyway",
                  file=sys.stderr, flush=True)
            break
        await asyncio.sleep(0.1)
    return round(time.monotonic() - t0, 2)


def answer_size(result: Any) -> dict[str, Any]:
    """Bytes of one tool answer as a client receives it: the text blocks and the structured content
    (compact JSON, as on the wire), and an estimated token count (4 bytes a token, the usual rule of
    thumb for English and JSON)."""
    text = sum(len(c.text.encode()) for c in result.content if getattr(c, "text", None) is not None)
    structured = (len(json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False).encode())
                  if result.structured_content is not None else 0)
    return {"text_bytes": text, "structured_bytes": structured, "tokens_est": round((text + structured) / 4)}


def expected_error(label: str) -> bool:
    """A case that measures a refusal (e.g. query_snapshot stopped by its time limit): its error is
    the answer being timed, not a failure of the run."""
    return label in EXPECT_REFUSAL
