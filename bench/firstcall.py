"""The first call of each tool after a sync that changed data, timed apart from the warm calls (issue 11).

One in-process server (poller off); the cases are each tool's default one (or ``--cases``), every case
called twice first so one-time costs of a fresh process
(imports, first statements) are not counted. Then, per case: change ~``fraction`` of the servers through
the compute API (the same servers every time, stopped and started in turn, so the fleet's mix stays put),
wait for the simulator's transition, run ``incremental_sync('servers')`` in the server's own context (as
its poller would: the same process, the same caches), then call the case once (the *first call*) and
``after`` more times (the *warm* calls of the same data version). Client round trip and handler time
(the tool function, as timed by app.tools.base) of both, and whether the first answer was the previous
one served superseded while the new one is computed in the background (app/services/answer_cache.py)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from bench import db as bdb
from bench.inprocess import expected_error, target_for
from bench.stats import summary


async def _timed(client: Any, tool: str, args: dict[str, Any]) -> tuple[float, str | None, bool]:
    """(round trip ms, error text, whether the answer was the previous one served superseded while the new
    one is computed: app/services/answer_cache.py)."""
    t0 = time.perf_counter()
    try:
        r = await client.call_tool(tool, args)
    except Exception as e:  # noqa: BLE001 - reported per case, the run goes on
        return (time.perf_counter() - t0) * 1000, f"{type(e).__name__}: {e}"[:300], False
    ms = (time.perf_counter() - t0) * 1000
    snap = (r.structured_content or {}).get("snapshot") if isinstance(r.structured_content, dict) else None
    superseded = bool(isinstance(snap, dict) and snap.get("superseded"))
    return ms, ((r.content[0].text if r.content else "error")[:300] if r.is_error else None), superseded


async def do_firstcall(a: argparse.Namespace) -> dict[str, Any]:
    import openstack
    from mcp import Client

    from bench.tool_args import cases
    from bench.worker import connect_kwargs, peak_rss_mb, server_actions

    handler_ms: dict[str, list[float]] = defaultdict(list)
    holder: dict[str, Any] = {}
    target = target_for(a, handler_ms, holder)
    _total, ids = await bdb.active_servers(a.db_url, a.fraction)
    conn = await asyncio.to_thread(openstack.connect, **connect_kwargs(a.auth_url))
    fill = await bdb.samples(a.db_url)
    results: dict[str, Any] = {}
    stopped = False
    async with Client(target, read_timeout_seconds=120) as client:
        listed = (await client.list_tools()).tools
        tools = [t.name for t in listed]
        live = {t.name for t in listed if t.annotations and t.annotations.open_world_hint}
        only = set(a.cases.split(",")) if a.cases else None
        # every tool once (its default case), or the cases asked for
        todo = [(label, tool, args) for label, tool, args in cases(tools, fill) if (label in only if only else label == tool)]
        await holder["ctx"].sync.incremental_sync("servers")  # catch up with the cloud before the rounds
        for _label, tool, args in todo:  # warm the process, not the data version
            for _ in range(2):
                await _timed(client, tool, args)
        for label, tool, args in todo:
            print(f"bench.worker: first call {label}", file=sys.stderr, flush=True)
            action = "start" if stopped else "stop"
            errors = await asyncio.to_thread(server_actions, conn, ids, action)
            stopped = not stopped
            await asyncio.sleep(1.5)  # the simulator's 1 s transition
            t0 = time.perf_counter()
            sync = await holder["ctx"].sync.incremental_sync("servers")
            sync_s = time.perf_counter() - t0
            handler_ms.pop(tool, None)
            first_ms, first_error, superseded = await _timed(client, tool, args)
            first_handler = handler_ms.pop(tool, [])
            warm = [await _timed(client, tool, args) for _ in range(a.after)]
            warm_handler = handler_ms.pop(tool, [])
            results[label] = {
                "tool": tool, "servers_changed": len(ids) - len(errors), "action": action,
                "sync": {"s": sync_s, "status": sync.status, "seen": sync.seen, "changed": sync.changed},
                "first": {"client_ms": first_ms, "handler_ms": first_handler[0] if first_handler else None,
                          "superseded": superseded},
                "warm": {"client": summary([ms for ms, _, _ in warm]), "handler": summary(warm_handler),
                         "second_client_ms": warm[0][0] if warm else None},
                "first_error": first_error or next((e for _, e, _ in warm if e), None),
                "expected_error": expected_error(label), "live": tool in live or args.get("live") is True,
            }
    if stopped:  # leave the fleet as it was found
        await asyncio.to_thread(server_actions, conn, ids, "start")
    firsts = [r["first"]["client_ms"] for r in results.values()]
    return {"cases": results, "fraction": a.fraction, "servers_per_round": len(ids),
            "median_first_ms": statistics.median(firsts) if firsts else None, "peak_rss_mb": peak_rss_mb()}
