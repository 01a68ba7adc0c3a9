"""Argument completion (MCP ``completion/complete``, issue 13: under 5 ms at 100,000 instances) through
the SDK's in-process client: ``python -m bench.worker completions --db F --auth-url U``.

Each case completes one resource-template or prompt argument with what a user may have typed: nothing,
a prefix many names share, a longer prefix, an exact name, an ID prefix, a substring inside names and
a term that matches nothing (the slow case by design: the substring step walks the whole name index).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import db as bdb
from bench.stats import summary

# label -> (reference: ("template", uri) or ("prompt", name), argument, typed value; {placeholders}
# are filled from the database like bench.tool_args)
CASES: dict[str, tuple[tuple[str, str], str, str]] = {
    "instances: empty": (("template", "openstack://{cloud}/instances/{name_or_id}"), "name_or_id", ""),
    "instances: 'w' (prefix of thousands)": (("template", "openstack://{cloud}/instances/{name_or_id}"),
                                             "name_or_id", "w"),
    "instances: 'web-1' (prefix)": (("template", "openstack://{cloud}/instances/{name_or_id}"), "name_or_id",
                                    "web-1"),
    "instances: exact name": (("template", "openstack://{cloud}/instances/{name_or_id}"), "name_or_id",
                              "{server_name}"),
    "instances: ID prefix": (("template", "openstack://{cloud}/instances/{name_or_id}"), "name_or_id",
                             "{server_id_prefix}"),
    "instances: 'queue' (substring)": (("template", "openstack://{cloud}/instances/{name_or_id}"), "name_or_id",
                                       "queue"),
    "instances: 'zzqx' (matches nothing)": (("template", "openstack://{cloud}/instances/{name_or_id}"),
                                            "name_or_id", "zzqx"),
    "prompt investigate_instance: 'web'": (("prompt", "investigate_instance"), "instance", "web"),
    "volumes: 'vol-4'": (("template", "openstack://{cloud}/volumes/{name_or_id}"), "name_or_id", "vol-4"),
    "networks: 'pri'": (("template", "openstack://{cloud}/networks/{name_or_id}"), "name_or_id", "pri"),
    "projects: 'p'": (("template", "openstack://{cloud}/projects/{name_or_id}"), "name_or_id", "p"),
}


async def do_completions(a: argparse.Namespace) -> dict[str, Any]:
    from mcp import Client
    from mcp.types import PromptReference, ResourceTemplateReference

    from bench.inprocess import settled, target_for

    fill = await bdb.samples(a.db_url)
    fill["server_id_prefix"] = fill["server_id"][:8]
    results: dict[str, Any] = {}
    holder: dict[str, Any] = {}
    async with Client(target_for(a, {}, holder), read_timeout_seconds=120) as client:
        await client.list_tools()  # the server's context (and its report warmer) starts with the session
        await settled(holder)
        for label, ((how, ref_name), argument, typed) in CASES.items():
            if a.cases and label not in a.cases.split(","):
                continue
            ref = (ResourceTemplateReference(type="ref/resource", uri=ref_name) if how == "template"
                   else PromptReference(type="ref/prompt", name=ref_name))
            value = typed.format(**fill)
            context = {"cloud": bdb.CLOUD} if how == "template" else None
            print(f"bench.worker: completion {label}", file=sys.stderr, flush=True)
            results[label] = await _time(lambda: client.complete(ref, {"name": argument, "value": value}, context),
                                         a.iterations, a.warmup, a.budget)
            results[label]["typed"] = value
    return {"completions": results}


async def _time(call: Callable[[], Any], iterations: int, warmup: int, budget: float) -> dict[str, Any]:
    ms: list[float] = []
    values: list[str] = []
    deadline = time.perf_counter() + budget
    for i in range(iterations + warmup):
        t0 = time.perf_counter()
        r = await call()
        dt = (time.perf_counter() - t0) * 1000
        values = list(r.completion.values)
        if i >= warmup:
            ms.append(dt)
        if i >= warmup + 10 and time.perf_counter() > deadline:
            break
    return {"client": summary(ms), "values": len(values), "first_values": values[:3]}


def section(sizes: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """The report's table: every case per size and backend, judged against issue 13's 5 ms."""
    from bench.report_fmt import f1, table
    from bench.report_issues import backends_of

    L: list[str] = []
    for n, r in sizes:
        for backend, b in backends_of(r).items():
            comp = (b.get("completions") or {}).get("completions")
            if not comp:
                continue
            if not L:
                L += ["## Argument completion (issue 13)", "",
                      "`completion/complete` through the SDK's in-process client (`python -m bench.worker "
                      "completions`): resource-template and prompt arguments, with what a user may have typed. "
                      "Target: under 5 ms at 100,000 instances.", ""]
            rows = [[f"`{k}`", f"`{c['typed']}`" if c["typed"] else "(empty)", str(c["values"]),
                     f1(c["client"].get("median"), 2), f1(c["client"].get("p99"), 2),
                     "met" if (c["client"].get("median") or 99) < 5 else "**missed**"] for k, c in comp.items()]
            L += [f"### {n:,} instances, {backend}", "",
                  *table(["Case", "typed", "values", "median ms", "p99 ms", "median < 5 ms"], rows)]
    return L
