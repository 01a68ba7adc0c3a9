"""One measuring step per process (started by :mod:`bench.run`); prints one JSON line on stdout, logs
to stderr.

    python -m bench.worker sync        --db F --auth-url U            full sync of every kind
    python -m bench.worker change      --db F --auth-url U --fraction  stop ~1% of ACTIVE servers (API)
    python -m bench.worker incremental --db F --auth-url U            incremental servers sync
    python -m bench.worker tools       --db F --auth-url U [--url H]  every read tool, N iterations
    python -m bench.worker firstcall   --db F --auth-url U            each tool's first call after a sync
    python -m bench.worker completions --db F --auth-url U            argument completion (completion/complete)
    python -m bench.worker live        --auth-url U --reps R           live-API baseline questions
    python -m bench.worker load        --url H --clients C --duration S  concurrent JSON-RPC load
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import db as bdb
from bench.db import CLOUD
from bench.stats import summary


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def connect_kwargs(auth_url: str) -> dict[str, Any]:
    return {"auth_url": auth_url, "username": "admin", "password": "secret", "project_name": "admin",
            "user_domain_name": "Default", "project_domain_name": "Default", "region_name": "RegionOne",
            "identity_api_version": "3"}


def settings_for(url: str) -> Any:
    """The server's settings for a benchmark: poller off, and query_snapshot on (off by default in a
    deployment; the harness times it, bounded by its time limit)."""
    from app.config import Settings, load_settings

    extra = {"sql_tool_enabled": True} if "sql_tool_enabled" in Settings.model_fields else {}  # older --app-root
    return load_settings(_env_file=None, database_url=url, poller_enabled=False, cloud_name=CLOUD,
                         cold_start_wait=0.0, log_level="WARNING", **extra)


def emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


# --- sync -----------------------------------------------------------------------------------------
async def do_sync(a: argparse.Namespace, incremental: bool = False) -> dict[str, Any]:
    from app.context import open_app_context

    async with open_app_context(settings_for(a.db_url), **connect_kwargs(a.auth_url)) as ctx:
        settle_s = None
        if incremental:
            # As in a serving process, whose reports are current when the poller's next round starts: a
            # fresh process first computes them for the whole fleet (seconds at 100,000 instances), which
            # would share the CPU with the sync timed here.
            from bench.inprocess import warmed

            settle_s = await warmed(ctx)
        t0 = time.perf_counter()
        if incremental:
            results = {"servers": await ctx.sync.incremental_sync("servers")}
        else:
            results = await ctx.sync.sync_all()
        total = time.perf_counter() - t0
    kinds = {k: {"status": r.status, "mode": r.mode, "seen": r.seen, "added": r.added, "changed": r.changed,
                 "tombstoned": r.tombstoned, "duration_s": r.duration_s, "error": r.error}
             for k, r in results.items()}
    out = {"total_s": total, "kinds": kinds, "peak_rss_mb": peak_rss_mb(), "db_bytes": await bdb.db_bytes(a.db_url)}
    if settle_s is not None:
        out["warmer_settle_s"] = settle_s
    return out


def do_change(a: argparse.Namespace) -> dict[str, Any]:
    """Stop ~``fraction`` of the ACTIVE servers through the compute API (openstacksdk), then wait for
    the simulator's transition (1 s) so that the next incremental sync sees SHUTOFF."""
    import openstack

    total, ids = asyncio.run(bdb.active_servers(a.db_url, a.fraction))
    conn = openstack.connect(**connect_kwargs(a.auth_url))
    t0 = time.perf_counter()
    errors = server_actions(conn, ids, "stop")
    elapsed = time.perf_counter() - t0
    time.sleep(1.5)
    return {"servers": total, "changed": len(ids) - len(errors), "errors": len(errors), "first_error": errors[:1],
            "seconds": elapsed}


def server_actions(conn: Any, ids: list[str], action: str) -> list[str]:
    """``stop`` or ``start`` each server through the compute API (8 at a time); the errors."""
    from concurrent.futures import ThreadPoolExecutor

    errors: list[str] = []
    call = conn.compute.stop_server if action == "stop" else conn.compute.start_server

    def one(sid: str) -> None:
        try:
            call(sid)
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(e).__name__}: {e}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, ids))
    return errors


# --- read tools -----------------------------------------------------------------------------------
async def do_tools(a: argparse.Namespace) -> dict[str, Any]:
    from mcp import Client

    from bench.inprocess import answer_size, expected_error, settled, target_for
    from bench.tool_args import cases

    handler_ms: dict[str, list[float]] = defaultdict(list)
    holder: dict[str, Any] = {}
    target = target_for(a, handler_ms, holder)
    results: dict[str, Any] = {}
    async with Client(target, read_timeout_seconds=120) as client:
        listed = (await client.list_tools()).tools
        settle_s = await settled(holder)  # warm calls: not while the fresh server's first report round runs
        tools = [t.name for t in listed]
        live = {t.name for t in listed if t.annotations and t.annotations.open_world_hint}
        only = set(a.cases.split(",")) if a.cases else None
        for label, tool, args in cases(tools, await bdb.samples(a.db_url)):
            if only and label not in only:
                continue
            handler_ms.pop(tool, None)
            ms: list[float] = []
            errors = 0
            first_error = None
            deadline = time.perf_counter() + a.budget
            print(f"bench.worker: {label}", file=sys.stderr, flush=True)
            r = None
            for i in range(a.iterations + a.warmup):
                t0 = time.perf_counter()
                try:
                    r = await client.call_tool(tool, args)
                except Exception as e:  # noqa: BLE001 - a hung or failing tool is reported, the run goes on
                    errors += 1
                    first_error = first_error or f"{type(e).__name__}: {e}"[:300]
                    break
                dt = (time.perf_counter() - t0) * 1000
                if r.is_error:
                    errors += 1
                    first_error = first_error or (r.content[0].text if r.content else "error")[:300]
                if i >= a.warmup:
                    ms.append(dt)
                if i >= a.warmup + 10 and time.perf_counter() > deadline:
                    break
            handler = handler_ms.pop(tool, [])[a.warmup:]
            results[label] = {"tool": tool, "args": args, "client": summary(ms), "handler": summary(handler),
                              "errors": errors, "first_error": first_error,
                              "live": tool in live or args.get("live") is True,
                              "expected_error": expected_error(label), **(answer_size(r) if r else {})}
    return {"tools": results, "registered": sorted(tools), "peak_rss_mb": peak_rss_mb(), "warmer_settle_s": settle_s}


# --- live baseline --------------------------------------------------------------------------------
def warm_up(conn: Any) -> None:
    """Authenticate and run every service's version discovery once, as a long-running live server
    would have done before the timed questions."""
    conn.authorize()
    list(conn.compute.flavors())
    list(conn.network.agents())
    list(conn.block_storage.types())
    list(conn.image.images())
    list(conn.identity.services())
    list(conn.orchestration.stacks())
    list(conn.placement.resource_providers())


async def do_live(a: argparse.Namespace) -> dict[str, Any]:
    import openstack

    from bench.live import BASELINES

    conn = openstack.connect(**connect_kwargs(a.auth_url))
    warm_up(conn)
    fill = await bdb.samples(a.db_url)
    only = set(a.only.split(",")) if a.only else None
    out: dict[str, Any] = {}
    for name, fn in BASELINES.items():
        if only and name not in only:
            continue
        ms: list[float] = []
        note = None
        t_start = time.perf_counter()
        for _ in range(a.reps):
            t0 = time.perf_counter()
            try:
                answer = fn(conn, fill)
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                note = f"{type(e).__name__}: {e}"[:300]
                break
            ms.append((time.perf_counter() - t0) * 1000)
            if time.perf_counter() - t_start > a.cap:
                note = f"stopped after {len(ms)} repetition(s): over the {a.cap:.0f}s cap"
                break
        out[name] = {"ms": summary(ms), "answer": answer if note is None or ms else None, "note": note}
    return {"baselines": out, "peak_rss_mb": peak_rss_mb()}


# --- concurrent load ------------------------------------------------------------------------------
async def do_load(a: argparse.Namespace) -> dict[str, Any]:
    from bench.load import run_load

    return await run_load(a.url, clients=a.clients, duration=a.duration, tools=a.tools.split(","), fill=await bdb.samples(a.db_url))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("step", choices=["sync", "change", "incremental", "tools", "firstcall", "completions",
                                                   "live", "load"])
    p.add_argument("--db", help="the SQLite snapshot file (else the database URL in $BENCH_DB_URL: a URL with a "
                                "password is never put on a command line)")
    p.add_argument("--auth-url", default="")
    p.add_argument("--url", default="", help="streamable-http base URL (tools over HTTP, load)")
    p.add_argument("--fraction", type=float, default=0.01)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per tool before stopping early")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--cap", type=float, default=60.0, help="live: seconds per question before stopping")
    p.add_argument("--only", default="")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--tools", default="")
    p.add_argument("--app-root", default="", help="tools: import the server (app/) from this checkout, e.g. a "
                                                  "worktree of an earlier commit, to compare both in one run")
    p.add_argument("--cases", default="", help="tools, firstcall, completions: only these case labels (comma-separated)")
    p.add_argument("--after", type=int, default=5, help="firstcall: calls after the first one, per case")
    a = p.parse_args(argv)
    if a.db:
        if a.step != "sync" and not Path(a.db).is_file():  # SQLite would create an empty one and time nothing
            p.error(f"--db {a.db}: no such snapshot file (the sync step or `python -m bench --keep` makes one)")
        Path(a.db).parent.mkdir(parents=True, exist_ok=True)
        a.db_url = bdb.sqlite_url(a.db)
    elif os.environ.get("BENCH_DB_URL"):
        a.db_url = os.environ["BENCH_DB_URL"]
    else:
        p.error("give --db FILE or set BENCH_DB_URL")
    if a.app_root:
        sys.path.insert(0, str(Path(a.app_root).resolve()))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:  # as the server's CLI does before any thread starts (absent from older checkouts: --app-root)
        from app.memory import limit_malloc_arenas
    except ImportError:
        pass
    else:
        limit_malloc_arenas()
    if a.step == "sync":
        out = asyncio.run(do_sync(a))
    elif a.step == "incremental":
        out = asyncio.run(do_sync(a, incremental=True))
    elif a.step == "change":
        out = do_change(a)
    elif a.step == "tools":
        out = asyncio.run(do_tools(a))
    elif a.step == "firstcall":
        from bench.firstcall import do_firstcall

        out = asyncio.run(do_firstcall(a))
    elif a.step == "completions":
        from bench.completions import do_completions

        out = asyncio.run(do_completions(a))
    elif a.step == "live":
        out = asyncio.run(do_live(a))
    else:
        out = asyncio.run(do_load(a))
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
