"""Markdown report of a benchmark run (``results.json`` -> docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import time
from importlib import metadata
from typing import Any

from app.services import budget as budgets
from bench.live import BASELINES
from bench.report_fmt import f1, ok, sizes_of, table
from bench.completions import section as completion_section
from bench.report_issues import backends_section, earlier_note, errors_cell, first_call_section, issue11_targets, label, snapshot_cases

TARGET_SIZE = 50000
RATIO_SIZE = 10000


def machine() -> list[str]:
    mem = cpu = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except (OSError, StopIteration):
        pass

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "?"

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return [
        f"- CPU: {os.cpu_count()} cores (`nproc`), {cpu}",
        f"- Memory: {mem}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, mcp {ver('mcp')}, "
        f"openstacksdk {ver('openstacksdk')}, SQLAlchemy {ver('sqlalchemy')}",
        f"- Code: commit {commit}",
    ]


def _la(v: Any) -> str:
    return " / ".join(f"{x:.1f}" for x in v) if v else "?"


_sizes = sizes_of


def targets(results: dict[str, Any]) -> list[list[str]]:
    sizes = dict(_sizes(results))
    big = sizes.get(TARGET_SIZE)
    rows: list[list[str]] = []
    missing = f"not measured ({TARGET_SIZE:,} not in this run)"

    # 1. read tools at 50k: through the in-process client (round trip), and server-side (the tool function)
    for key, what in (("handler", "server-side (tool function, as timed by app.tools.base)"),
                      ("client", "in-process MCP client round trip (includes the client's output-schema validation)")):
        name = f"Every read tool at {TARGET_SIZE:,}, {what}: p99 < 25 ms, median < 5 ms"
        if not (big and "tools" in big):
            rows.append([name, missing, "–"])
            continue
        tools = {k: v[key] for k, v in snapshot_cases(big["tools"]["tools"]).items() if v[key].get("n")}
        slow = {k: v for k, v in tools.items() if v["p99"] >= 25 or v["median"] >= 5}
        worst_p99 = max(tools.items(), key=lambda kv: kv[1]["p99"])
        worst_med = max(tools.items(), key=lambda kv: kv[1]["median"])
        measured = (f"worst p99 {f1(worst_p99[1]['p99'])} ms (`{worst_p99[0]}`), worst median "
                    f"{f1(worst_med[1]['median'])} ms (`{worst_med[0]}`)")
        if slow:
            measured += f"; {len(slow)} of {len(tools)} over (median/p99 ms): " + ", ".join(
                f"`{k}` {f1(v['median'])}/{f1(v['p99'])}" for k, v in slow.items())
        rows.append([name, measured, ok(not slow)])
    # 2. ratio at 10k, 20 ms
    mid = sizes.get(RATIO_SIZE)
    ratios = speedups(mid, results["opts"]["live_latency"]) if mid else {}
    if ratios:
        low = {k: v for k, v in ratios.items() if v is not None and v < 100}
        known = [v for v in ratios.values() if v is not None]
        measured = f"lowest {f1(min(known), 0)}x" + (
            "; under 100x: " + ", ".join(f"{k} {f1(v, 0)}x" for k, v in low.items()) if low else "") if known else "–"
        rows.append([f"≥ 100x faster than live at {RATIO_SIZE:,} with 20 ms latency (median vs median)", measured,
                     ok(not low) if known else "–"])
    else:
        rows.append([f"≥ 100x faster than live at {RATIO_SIZE:,} with 20 ms latency", "not measured", "–"])
    # 3-5. sync
    if big and "incremental" in big:
        full = big["sync"]["total_s"]
        inc = big["incremental"]["total_s"]
        rss = big["sync"]["peak_rss_mb"]
        rows.append([f"Full sync of {TARGET_SIZE:,} instances < 90 s (every kind, concurrently)", f"{f1(full)} s",
                     ok(full < 90)])
        rows.append(["Incremental sync (1% of servers changed) < 2 s", f"{f1(inc, 2)} s", ok(inc < 2)])
        rows.append([f"Peak RSS < 400 MB during the {TARGET_SIZE:,} sync", f"{f1(rss, 0)} MB", ok(rss < 400)])
    else:
        for t in ("Full sync < 90 s", "Incremental sync < 2 s", "Peak RSS < 400 MB"):
            rows.append([t, missing, "–"])
    return rows


# The server's own answer budgets (issue 10: ~4,000 and ~20,000 tokens), judged as the server enforces them.
DEFAULT_BUDGET = budgets.DEFAULT_BUDGET
MAX_BUDGET = budgets.HARD_BUDGET
SLOWEST = 7


def answers_section(results: dict[str, Any]) -> list[str]:
    """Issue 10: answer sizes per tool and argument variant, and the in-process round trip against a base
    checkout measured in the same run (``--compare-base``)."""
    sizes = [(n, r) for n, r in _sizes(results) if "tools" in r]
    if not sizes:
        return []
    n, r = sizes[-1]
    tools = r["tools"]["tools"]
    base = (r.get("tools_base") or {}).get("tools", {})
    L = ["## Answers (issue 10)", "",
         f"At {n:,} instances. Bytes as a client receives them: the text content and the structured content (compact "
         "JSON); tokens estimated at 4 bytes each. A *default* case calls the tool with the harness's usual arguments "
         "(no size arguments); the other labelled cases ask for the largest pages the arguments allow. Round trip: "
         "the SDK's in-process client (includes its output-schema validation), median and p99."
         + (f" Base: commit {r['tools_base'].get('commit', '?')}, the same database, the same run." if base else ""), ""]
    rows = []
    for label, t in tools.items():
        if "text_bytes" not in t:
            continue
        total = t["text_bytes"] + t["structured_bytes"]
        row = [f"`{label}`", f"{t['text_bytes']:,}", f"{t['structured_bytes']:,}", f"{total:,}", f"{t['tokens_est']:,}",
               f1(t["client"].get("median"), 2), f1(t["client"].get("p99"), 2)]
        b = base.get(label)
        if base:
            if b and b.get("client", {}).get("n") and not b.get("first_error"):
                bt = b.get("text_bytes", 0) + b.get("structured_bytes", 0)
                row += [f"{bt:,}", f1(b["client"]["median"], 2), f1(b["client"]["p99"], 2),
                        f"{b['client']['median'] / t['client']['median']:.1f}x" if t["client"].get("median") else "–"]
            else:
                row += ["–", "–", "–", "–"]
        rows.append(row)
    header = ["Case", "text B", "structured B", "total B", "~tokens", "median ms", "p99 ms"]
    if base:
        header += ["base total B", "base median ms", "base p99 ms", "speedup (median)"]
    L += table(header, rows)
    defaults = {k: t for k, t in tools.items() if "(" not in k and "text_bytes" in t and not t.get("first_error")}
    if defaults:
        big = max(defaults.items(), key=lambda kv: kv[1]["text_bytes"] + kv[1]["structured_bytes"])
        size = big[1]["text_bytes"] + big[1]["structured_bytes"]
        L += [f"- Every default answer < {DEFAULT_BUDGET:,} bytes: largest `{big[0]}` {size:,} bytes: "
              + ("**met**" if size < DEFAULT_BUDGET else "**missed**")]
    every = {k: t for k, t in tools.items() if "text_bytes" in t and not t.get("first_error")}
    if every:
        big = max(every.items(), key=lambda kv: kv[1]["text_bytes"] + kv[1]["structured_bytes"])
        size = big[1]["text_bytes"] + big[1]["structured_bytes"]
        L += [f"- Largest answer at any argument < {MAX_BUDGET:,} bytes: `{big[0]}` {size:,} bytes: "
              + ("**met**" if size < MAX_BUDGET else "**missed**")]
    if base:
        slow = sorted(((k, b) for k, b in base.items() if b.get("client", {}).get("n") and k in tools
                       and "(" not in k), key=lambda kv: -kv[1]["client"]["median"])[:SLOWEST]
        halved = [(k, b["client"]["median"], tools[k]["client"]["median"]) for k, b in slow]
        ok = all(new <= old / 2 for _, old, new in halved)
        L += [f"- In-process round trip at least halved for the {SLOWEST} slowest tools of the base (median ms, base -> "
              "now): " + ", ".join(f"`{k}` {f1(old, 1)} -> {f1(new, 1)}" for k, old, new in halved) + ": "
              + ("**met**" if ok else "**missed**")]
    return L + [""]


def speedups(res: dict[str, Any], latency: float) -> dict[str, float | None]:
    """live median / snapshot (in-process) median per baseline question."""
    live = (res.get("live") or {}).get(str(latency))
    if not live or "tools" not in res:
        return {}
    out: dict[str, float | None] = {}
    for q, b in live["baselines"].items():
        snap = res["tools"]["tools"].get(q, {}).get("client", {})
        if b["ms"].get("n") and snap.get("n"):
            out[q] = b["ms"]["median"] / snap["median"]
        else:
            out[q] = None
    return out


def render(results: dict[str, Any]) -> str:
    o = results["opts"]
    L: list[str] = ["# Benchmarks", "",
                    "Produced by the benchmark harness (`bench/`); do not edit by hand. Rerun with the command below "
                    "(the run below took the time it states; 50,000 adds a ~2-minute sync and its tool runs).", "",
                    "## Machine and command", "", *machine(),
                    f"- Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(results['started']))}, "
                    f"{(results.get('finished', results['started']) - results['started']) / 60:.1f} min; load average "
                    f"(1/5/15 min) {_la(results.get('loadavg_start'))} at the start, {_la(results.get('loadavg_end'))} at "
                    "the end (other work on the machine competes for the same cores)", "",
                    "```", results["command"], "```", "", *earlier_note(results),
                    f"Iterations: {o['iterations']} per read tool in-process, {o['http_iterations']} over HTTP (a tool "
                    f"stops early after {o['budget']:.0f} s / {o['budget'] / 2:.0f} s); load: {o['clients']} clients for "
                    f"{o['load_seconds']:.0f} s; live baseline: {o['live_reps']} repetition(s) per question up to "
                    f"{o['live_max_size']:,} instances. The simulator, each sync, the HTTP server, the load generator and "
                    "the live baseline are separate processes on 127.0.0.1, sharing the CPUs above.", ""]
    L += issue11_targets(results)
    L += ["## Targets (issue 6)", "", *table(["Target", "Measured", "Status"], targets(results))]
    L += answers_section(results)
    L += backends_section(results)
    L += first_call_section(results)
    L += completion_section(_sizes(results))
    sizes = _sizes(results)
    failed = [(n, r["failed"]) for n, r in sizes if "failed" in r]
    for n, err in failed:
        L += [f"**Size {n:,} failed:**", "", "```", err[-1500:], "```", ""]
    sizes = [(n, r) for n, r in sizes if "incremental" in r]  # a run stopped midway: its finished steps only

    # --- sync
    L += ["## Sync", "",
          "On the first backend of the run (SQLite unless `--database` says otherwise; the others are in the side-by-side "
          "section). Full sync: every kind into a fresh migrated database, kinds concurrently (`SyncService.sync_all`), in "
          "its own process; peak RSS is that process's `ru_maxrss`. Incremental: `incremental_sync('servers')` "
          "(Nova `changes-since`) after stopping 1% of the ACTIVE servers through the compute API "
          "(openstacksdk `stop_server`). Unchanged re-sync: a second full sync right after the first, nothing changed. Full sync under load: the same full sync into the served database while the "
          "HTTP load below runs.", ""]
    rows = []
    for n, r in sizes:
        inc = r["incremental"]["kinds"]["servers"]
        rows.append([f"{n:,}", f1(r["sim_startup_s"]), f1(r["sync"]["total_s"]), f1(r["sync"]["peak_rss_mb"], 0),
                     f1(r["sync"]["db_bytes"] / 1e6), f"{r['change']['changed']} ({r['change']['errors']} errors)",
                     f"{f1(r['incremental']['total_s'], 2)} ({inc['mode']}, seen {inc['seen']}, changed {inc['changed']})",
                     f1(r.get("resync", {}).get("total_s")), f1(r.get("sync_under_load", {}).get("total_s"))])
    L += table(["Instances", "Simulator start (s)", "Full sync (s)", "Peak RSS (MB)", "DB size (MB)",
                "Servers changed", "Incremental sync (s)", "Unchanged re-sync (s)", "Full sync under load (s)"], rows)
    kinds = list(sizes[0][1]["sync"]["kinds"]) if sizes else []
    rows = []
    for k in kinds:
        row = [k]
        for _n, r in sizes:
            kr = r["sync"]["kinds"].get(k, {})
            row.append(f"{f1(kr.get('duration_s'), 2)} ({kr.get('seen', 0):,})" +
                       ("" if kr.get("status") == "succeeded" else f" {kr.get('status')}"))
        rows.append(row)
    L += ["Per kind: seconds (rows seen). Kinds run concurrently, so a kind's time includes waiting for the "
          "shared SDK thread pool and the single writer.", ""]
    L += table(["Kind", *[f"{n:,}" for n, _ in sizes]], rows)

    # --- read tools
    for title, key, note in (
        ("Read tools, in-process MCP client", "tools",
         "Round trip through the MCP SDK's in-process `Client` (server built by `app.server.build_server`, poller "
         "off), after 3 warm-up calls. *Handler* is the time inside the tool function as measured by "
         "`app.tools.base` (service + SQL + result model), without MCP framing and validation."),
        ("Read tools over streamable-http", "tools_http",
         "Round trip through the MCP SDK's streamable-http client to `python -m app serve --type streamable-http` "
         "(separate process, poller off) on 127.0.0.1."),
    ):
        L += [f"## {title}", "", note + " *(live)*: the tool asks OpenStack (here the simulator) on a cache miss.", ""]
        for n, r in sizes:
            if key not in r:
                continue
            rows = []
            for name, t in r[key]["tools"].items():
                c, h = t["client"], t["handler"]
                row = [label(name, t), f1(c.get("median"), 2), f1(c.get("p95"), 2), f1(c.get("p99"), 2)]
                if key == "tools":
                    row += [f1(h.get("median"), 2), f1(h.get("p99"), 2)]
                row += [c.get("n", 0), errors_cell(t)]
                rows.append(row)
            header = ["Tool", "median ms", "p95 ms", "p99 ms"] + (["handler median", "handler p99"] if key == "tools" else [])
            L += [f"### {n:,} instances ({r.get('backend', 'sqlite')})", "", *table(header + ["calls", "errors"], rows)]
        if sizes and key == "tools":
            args = sizes[0][1]["tools"]["tools"]
            L += ["Arguments (`bench/tool_args.py`; names filled from the synced database):", ""]
            L += [f"- `{k}`: `{v['args']}`" for k, v in args.items() if v["args"]] + [""]

    # --- live baseline
    L += ["## Snapshot vs live API", "",
          "The same questions answered the way a live-API server does: openstacksdk listing through the simulator on "
          "every call, filtering/sorting/paging in Python (`bench/live.py`; each function's docstring says which calls "
          "it makes). Snapshot = in-process MCP client median above. Ratio = snapshot / live (smaller is better); "
          "speedup = live / snapshot.", ""]
    for n, r in sizes:
        live = r.get("live") or {}
        if "skipped" in live:
            L += [f"### {n:,} instances", "", f"_{live['skipped']}._", ""]
            continue
        if not live:
            continue
        lat_keys = list(live)
        rows = []
        for q in BASELINES:
            snap = r["tools"]["tools"].get(q, {}).get("client", {})
            row = [f"`{q}`", f1(snap.get("median"), 2) if snap.get("n") else "not registered"]
            for lk in lat_keys:
                b = live[lk]["baselines"].get(q, {})
                ms = b.get("ms", {})
                lm = ms.get("median")
                row.append(f1(lm, 0) + (f" ({b['note']})" if b.get("note") else ""))
                if lm and snap.get("n"):
                    row += [f"{snap['median'] / lm:.5f}", f"{lm / snap['median']:,.0f}x"]
                else:
                    row += ["–", "–"]
            rows.append(row)
        header = ["Question", "snapshot median ms"]
        for lk in lat_keys:
            ms = f"{float(lk) * 1000:.0f} ms"
            header += [f"live median ms @{ms}", f"ratio @{ms}", f"speedup @{ms}"]
        L += [f"### {n:,} instances ({o['live_reps']} repetition(s))", "", *table(header, rows)]

    # --- load
    L += ["## Concurrent load over HTTP during a full sync", "",
          "Concurrent MCP sessions (raw JSON-RPC `tools/call` over httpx, each session initialized) calling a round-robin "
          "mix of read tools back to back against the streamable-http server, while a full sync of every kind writes "
          "into the same database from another process. Client, server, sync and simulator share the 2 cores.", ""]
    rows = []
    for n, r in sizes:
        ld = r.get("load")
        if not ld:
            continue
        lat = ld["latency"]
        rows.append([f"{n:,}", ld["clients"], f1(ld["duration_s"]), f1(r["sync_under_load"]["total_s"]), ld["ok"],
                     f1(ld["throughput_rps"]), f1(lat.get("median")), f1(lat.get("p95")), f1(lat.get("p99")),
                     ld["errors"] if not ld["errors"] else f"{ld['errors']} {ld['error_kinds']}"])
    L += table(["Instances", "Clients", "Duration (s)", "Sync (s)", "Calls ok", "Throughput (calls/s)", "p50 ms",
                "p95 ms", "p99 ms", "Errors"], rows)
    if sizes and sizes[-1][1].get("load"):
        mix = sizes[-1][1]["load"]["per_tool"]
        L += [f"Per tool under load at {sizes[-1][0]:,} instances (ms):", ""]
        L += table(["Tool", "calls", "median", "p95", "p99"],
                   [[f"`{t}`", s.get("n", 0), f1(s.get("median")), f1(s.get("p95")), f1(s.get("p99"))]
                    for t, s in mix.items()])
    L += ["## Rerun", "", "```", "python -m bench --sizes 1000,10000,50000 --out docs/benchmarks.md   # full run",
          "python -m bench --sizes 1000 --quick --out -                      # a quick look",
          "python -m pytest tests/bench/test_bench_smoke.py -m bench          # smoke test (300 instances)", "```", "",
          "`--keep --workdir DIR` keeps the databases, the per-process logs and `results.json` (raw figures).", ""]
    return "\n".join(L)
