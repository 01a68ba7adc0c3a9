"""Orchestrator of ``python -m bench``: per fleet size, simulator -> per database backend (SQLite,
PostgreSQL): full sync -> unchanged re-sync -> 1% change -> incremental sync -> read tools in-process ->
each tool's first call after a sync; then, on the first backend: read tools over streamable-http ->
concurrent HTTP load during a full sync -> live-API baseline at 0 and 20 ms simulated latency; then the
Markdown report."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import db as bdb
from bench.procs import ROOT, Procs, Sim, WorkerFailed
from bench.report import render

LOAD_MIX = ("search_instances", "get_instance_details", "get_instances_by_status", "get_hypervisor_list",
            "get_service_status", "get_floating_ips", "get_volume_list", "monitor_resources", "get_cluster_status")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", default="1000,10000,50000", help="comma-separated fleet sizes (instances)")
    p.add_argument("--quick", action="store_true", help="few iterations, short load (smoke runs)")
    p.add_argument("--out", default="docs/benchmarks.md", help="Markdown report ('-' for stdout only)")
    p.add_argument("--workdir", default=None, help="databases and logs (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs, results.json)")
    p.add_argument("--iterations", type=int, default=None, help="in-process calls per tool (default 200, quick 20)")
    p.add_argument("--http-iterations", type=int, default=None, help="HTTP calls per tool (default 50, quick 5)")
    p.add_argument("--clients", type=int, default=None, help="concurrent HTTP clients (default 50, quick 10)")
    p.add_argument("--load-seconds", type=float, default=None, help="load duration (default 20, quick 4; max 30)")
    p.add_argument("--live-reps", type=int, default=None, help="live baseline repetitions (default 3, quick 1)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per tool in-process before it stops early (default 10, quick 3; HTTP: half)")
    p.add_argument("--live-cap", type=float, default=None,
                   help="seconds per live question before its repetitions stop (default 90, quick 20)")
    p.add_argument("--render", metavar="RESULTS_JSON",
                   help="only re-render the report of an earlier run's results.json (several, comma-separated: "
                        "joined, e.g. SQLite and PostgreSQL runs made in parallel)")
    p.add_argument("--live-max-size", type=int, default=10000,
                   help="largest fleet with a live baseline (larger: skipped with a note)")
    p.add_argument("--live-latency", type=float, default=0.02, help="simulated per-request latency (s)")
    p.add_argument("--no-live-zero", action="store_true",
                   help="live baseline only at --live-latency (skip the 0 ms run, which no target reads)")
    p.add_argument("--compare-base", metavar="DIR", default=None,
                   help="also run the in-process read tools with the server (app/) of this checkout (e.g. a git "
                        "worktree of an earlier commit) on the same databases, and report both")
    p.add_argument("--tools-only", action="store_true",
                   help="per size: simulator, sync and the in-process read tools only (no HTTP, load or live)")
    p.add_argument("--database", default="sqlite",
                   help="comma-separated backends to sync into and time, side by side: sqlite, postgresql (the "
                        "first one also gets the HTTP, load and live steps)")
    p.add_argument("--postgres-url", default=None,
                   help="PostgreSQL server (superuser URL, postgresql+asyncpg://...) in which a database "
                        "bench_<size>_<pid> is created per size (dropped at the end unless --keep); default $OPS_BENCH_POSTGRES_URL, else the server "
                        "of scripts/postgres.sh (started if needed)")
    p.add_argument("--first-fraction", type=float, default=0.01,
                   help="first call after a sync: share of the servers changed before each case (default 1%%)")
    p.add_argument("--first-cases", default="",
                   help="first call after a sync: only these case labels (comma-separated; default every case)")
    p.add_argument("--no-first-call", action="store_true", help="skip the first-call-after-a-sync step")
    p.add_argument("--no-resync", action="store_true", help="skip the unchanged re-sync (a second full sync)")
    p.add_argument("--reuse-databases", action="store_true",
                   help="rerun only the read tools and the first calls on the databases an earlier --keep run left in "
                        "--workdir (its results.json): its sync figures are kept and reported with its commit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.render:
        md = render(merge([json.loads(Path(f).read_text()) for f in a.render.split(",")]))
        if a.out != "-":
            Path(a.out).write_text(md)
        print(md)
        return 0
    q = a.quick
    opts = {
        "iterations": a.iterations or (20 if q else 200),
        "http_iterations": a.http_iterations or (5 if q else 50),
        "budget": a.budget or (3.0 if q else 10.0),
        "clients": a.clients or (10 if q else 50),
        "load_seconds": min(30.0, a.load_seconds or (4.0 if q else 20.0)),
        "live_reps": a.live_reps or (1 if q else 3),
        "live_cap": a.live_cap or (20.0 if q else 90.0),
        "live_max_size": a.live_max_size,
        "live_latency": a.live_latency,
        "live_latencies": [a.live_latency] if a.no_live_zero else [0.0, a.live_latency],
        "compare_base": a.compare_base,
        "tools_only": a.tools_only,
        "databases": [b.strip() for b in a.database.split(",") if b.strip()],
        "first_fraction": None if a.no_first_call else a.first_fraction,
        "first_after": 3 if q else 5,
        "first_cases": a.first_cases,
        "resync": not a.no_resync,
    }
    unknown = [b for b in opts["databases"] if b not in bdb.BACKENDS]
    if unknown or not opts["databases"]:
        raise SystemExit(f"--database: {unknown or 'none given'}; choose from {', '.join(bdb.BACKENDS)}")
    pg_server = bdb.postgres_server_url(a.postgres_url) if "postgresql" in opts["databases"] else None
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))
    results: dict[str, Any] = {"command": command.strip(), "opts": opts, "sizes": {}, "started": time.time(),
                               "loadavg_start": os.getloadavg(), "commit": _commit(str(ROOT))}
    if a.reuse_databases:
        return retime(a, opts, work, results, pg_server)
    print(f"bench: sizes {sizes}, work dir {work}", file=sys.stderr)
    with Procs(work / "logs") as procs:
        # every finished step is in results.json at once: a run stopped midway keeps what it measured
        procs.on_step = lambda: (work / "results.json").write_text(json.dumps(results, indent=1))
        for n in sizes:
            t0 = time.perf_counter()
            res = results["sizes"][str(n)] = {"servers": n}
            try:
                bench_size(procs, n, work / str(n), opts, pg_server, a.keep, res)
            except Exception as e:  # noqa: BLE001 - the report says which size failed and why
                res["failed"] = str(e)
                print(f"bench: size {n} failed: {e}", file=sys.stderr)
            results["sizes"][str(n)]["wall_s"] = time.perf_counter() - t0
            print(f"bench: size {n} done in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
            (work / "results.json").write_text(json.dumps(results, indent=1))  # partial results survive
            if not a.keep:
                shutil.rmtree(work / str(n), ignore_errors=True)
    return finish(a, results, work)


def finish(a: argparse.Namespace, results: dict[str, Any], work: Path) -> int:
    results["finished"] = time.time()
    results["loadavg_end"] = os.getloadavg()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    md = render(results)
    print(md)
    if a.out != "-":
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(md)
        print(f"bench: wrote {a.out}; raw results in {work / 'results.json'}", file=sys.stderr)
    if not a.keep and not a.workdir:
        shutil.rmtree(work / "logs", ignore_errors=True)
    failed = [n for n, r in results["sizes"].items() if "failed" in r]
    return 1 if failed else 0


def retime(a: argparse.Namespace, opts: dict[str, Any], work: Path, results: dict[str, Any],
           pg_server: str | None) -> int:
    """``--reuse-databases``: the read steps again on the kept databases of an earlier run, with this
    checkout; the earlier run's other figures are kept (``results['earlier']`` says which run)."""
    from sqlalchemy.engine import make_url

    prev = json.loads((work / "results.json").read_text())
    (work / "results.earlier.json").write_text(json.dumps(prev, indent=1))
    results["earlier"] = {k: prev.get(k) for k in ("command", "commit", "started", "finished", "loadavg_start",
                                                    "loadavg_end")}
    with Procs(work / "logs") as procs:
        for key, r in prev["sizes"].items():
            n = int(key)
            if "failed" in r:
                continue
            sim = procs.start_simulator(n)
            try:
                for backend, b in {r["backend"]: r, **r.get("backends", {})}.items():
                    if backend not in opts["databases"]:
                        continue
                    url = (bdb.sqlite_url(work / key / "snapshot.db") if backend == "sqlite" else make_url(
                        pg_server or "").set(database=make_url(b["database_url"]).database).render_as_string(False))
                    _step(f"[{n}] {backend}: read tools in-process on the kept database")
                    asyncio.run(bdb.forget_identity(url))  # a new simulator of the same cloud
                    read_steps(procs, n, sim, url, backend, opts, max(1.0, n / 50000), b)
            except Exception as e:  # noqa: BLE001 - the report says which size failed and why
                r["failed"] = str(e)
            finally:
                procs.stop(sim.proc)
            for k in ("tools_http", "load", "sync_under_load", "live"):
                r.pop(k, None)  # not rerun: they measured the earlier code
            results["sizes"][key] = r
            (work / "results.json.retimed").write_text(json.dumps(results, indent=1))
    return finish(a, results, work)


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One report's results from several runs: a size measured on another backend by a later run goes
    beside the first run's (its ``backends``), anything else is added as it is."""
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[0], sizes=dict(runs[0]["sizes"]))
    out["merged"] = [{k: r.get(k) for k in ("command", "commit", "started", "finished", "loadavg_start",
                                             "loadavg_end")} for r in runs]
    for r in runs[1:]:
        for key, size in r["sizes"].items():
            mine = out["sizes"].get(key)
            if mine is not None and size.get("backend") and size.get("backend") != mine.get("backend"):
                mine.setdefault("backends", {})[size["backend"]] = size
            elif mine is None:
                out["sizes"][key] = size
    out["started"] = min(r["started"] for r in runs)
    out["finished"] = max(r.get("finished", r["started"]) for r in runs)
    return out


def _step(msg: str) -> None:
    print(f"bench:   {msg}", file=sys.stderr, flush=True)


def bench_size(procs: Procs, n: int, work: Path, o: dict[str, Any], pg_server: str | None = None,
               keep: bool = False, res: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every step for one fleet size, filling ``res`` as the steps finish."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    res = {"servers": n} if res is None else res
    _step(f"[{n}] starting simulator")
    sim = procs.start_simulator(n)
    res["sim_startup_s"] = sim.startup_s
    scale = max(1.0, n / 50000)  # a loaded machine: 50,000 took ~10 min to sync at load 8
    primary, *others = o["databases"]
    urls = {b: bdb.sqlite_url(work / "snapshot.db") if b == "sqlite" else
            bdb.fresh_postgres_database(pg_server or "", f"bench_{n}_{os.getpid()}") for b in o["databases"]}
    try:
        res["backend"] = primary
        res["backends"] = {}
        backend_steps(procs, n, sim, urls[primary], primary, o, scale, res)
        for b in others:
            backend_steps(procs, n, sim, urls[b], b, o, scale, res["backends"].setdefault(b, {}))
        if o.get("tools_only"):
            return res
        http_and_live(procs, n, sim, urls[primary], o, res)
        return res
    finally:
        procs.stop(sim.proc)
        if not keep:
            for b, url in urls.items():
                if b == "postgresql":
                    bdb.drop_postgres_database(url)


def backend_steps(procs: Procs, n: int, sim: Sim, url: str, backend: str, o: dict[str, Any],
                  scale: float, res: dict[str, Any]) -> dict[str, Any]:
    """Sync, unchanged re-sync (unless --no-resync), 1% change, incremental sync, the read tools and each
    tool's first call after a sync, on one database, into ``res``."""
    res.update({"database": backend, "database_url": bdb.redact(url)})
    base_args = ["--auth-url", sim.auth_url]
    tag = f"{backend}-{n}"
    _step(f"[{n}] {backend}: full sync into a fresh database")
    res["sync"] = procs.worker(["sync", *base_args], f"sync-{tag}", timeout=1800 * scale, db_url=url)
    if o.get("resync", True):
        _step(f"[{n}] {backend}: full sync {res['sync']['total_s']:.1f}s; full sync again, nothing changed")
        res["resync"] = procs.worker(["sync", *base_args], f"resync-{tag}", timeout=1800 * scale, db_url=url)
    _step(f"[{n}] {backend}: full sync {res['sync']['total_s']:.1f}s; changing 1% of servers")
    res["change"] = procs.worker(["change", *base_args], f"change-{tag}", timeout=600 * scale, db_url=url)
    res["incremental"] = procs.worker(["incremental", *base_args], f"incremental-{tag}", timeout=600 * scale, db_url=url)
    _step(f"[{n}] {backend}: incremental {res['incremental']['total_s']:.2f}s; read tools in-process")
    read_steps(procs, n, sim, url, backend, o, scale, res)
    return res


def read_steps(procs: Procs, n: int, sim: Sim, url: str, backend: str, o: dict[str, Any], scale: float,
               res: dict[str, Any]) -> None:
    """The read tools in-process (and with the base checkout) and each tool's first call after a sync."""
    base_args = ["--auth-url", sim.auth_url]
    tag = f"{backend}-{n}"
    tool_args = ["--iterations", str(o["iterations"]), "--budget", str(o["budget"])]
    res["tools"] = procs.worker(["tools", *base_args, *tool_args], f"tools-{tag}", timeout=3600 * scale, db_url=url)
    res["completions"] = procs.worker(["completions", *base_args, *tool_args], f"completions-{tag}",
                                      timeout=600 * scale, db_url=url)
    if o.get("compare_base") and backend == "sqlite":
        _step(f"[{n}] read tools in-process with the base checkout {o['compare_base']}")
        try:
            copy = bdb.copy_for_checkout(bdb.sqlite_file(url) or "", o["compare_base"])
            res["tools_base"] = procs.worker(["tools", "--db", copy, "--auth-url", sim.auth_url,
                                              *tool_args, "--app-root", o["compare_base"]],
                                             f"tools-base-{n}", timeout=3600 * scale)
            res["tools_base"]["commit"] = _commit(o["compare_base"])
        except (WorkerFailed, RuntimeError, sqlite3.Error) as e:  # the rest of the size still runs
            res["tools_base_error"] = str(e)[-2000:]
            _step(f"[{n}] the base checkout's read tools failed: {str(e)[-300:]}")
    if o.get("first_fraction"):
        _step(f"[{n}] {backend}: each tool's first call after a sync ({o['first_fraction']:.1%} of servers changed)")
        res["firstcall"] = procs.worker(["firstcall", *base_args, "--fraction", str(o["first_fraction"]),
                                         "--after", str(o["first_after"]), "--cases", o.get("first_cases") or ""],
                                        f"firstcall-{tag}", timeout=7200 * scale, db_url=url)


def http_and_live(procs: Procs, n: int, sim: Sim, url: str, o: dict[str, Any], res: dict[str, Any]) -> None:
    base_args = ["--auth-url", sim.auth_url]
    registered = res["tools"]["registered"]
    _step(f"[{n}] read tools over streamable-http")
    http, base = procs.start_http_server(url, sim, "bench")
    try:
        res["tools_http"] = procs.worker(["tools", *base_args, "--url", base, "--iterations", str(o["http_iterations"]),
                                          "--budget", str(o["budget"] / 2)], f"tools-http-{n}", timeout=3600, db_url=url)
        mix = [t for t in LOAD_MIX if t in registered] or [t for t in registered if t.startswith("get_")][:5]
        _step(f"[{n}] {o['clients']} concurrent HTTP clients for {o['load_seconds']:.0f}s during a full sync")
        load = procs.start_worker(["load", *base_args, "--url", base, "--clients", str(o["clients"]),
                                   "--duration", str(o["load_seconds"]), "--tools", ",".join(mix)], f"load-{n}", url)
        time.sleep(1.0)  # sessions initialized before the sync starts
        sync2 = procs.start_worker(["sync", *base_args], f"sync-under-load-{n}", url)
        res["load"] = procs.finish_worker(load, timeout=o["load_seconds"] + 300)
        res["sync_under_load"] = procs.finish_worker(sync2, timeout=1800 * max(1.0, n / 50000))
    finally:
        procs.stop(http)

    if n > o["live_max_size"]:
        res["live"] = {"skipped": f"live baseline skipped above {o['live_max_size']} instances (one live call "
                                  "lists the whole fleet; minutes per question)"}
        return
    res["live"] = {}
    for latency in o.get("live_latencies", [0.0, o["live_latency"]]):
        if latency:
            procs.stop(sim.proc)
            _step(f"[{n}] simulator with {latency * 1000:.0f} ms per request")
            sim = procs.start_simulator(n, latency)
        _step(f"[{n}] live baseline at {latency * 1000:.0f} ms")
        res["live"][str(latency)] = procs.worker(
            ["live", "--auth-url", sim.auth_url, "--reps", str(o["live_reps"]),
             "--cap", str(o["live_cap"])], f"live-{n}-{latency}", timeout=3600, db_url=url)
    procs.stop(sim.proc)


def _commit(root: str) -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
