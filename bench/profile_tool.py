"""Profile one read tool against a synced database with pyinstrument (through the in-process MCP client):

    python -m bench.profile_tool --db /tmp/benchrun/50000/snapshot.db get_cluster_status [--args JSON] [-n 50]

Keep a database with ``python -m bench --keep --workdir DIR``. The cloud connection is never used
(poller off), so no simulator is needed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from typing import Any

from bench import db as bdb
from bench.tool_args import TOOL_ARGS, _fill
from bench.worker import settings_for


async def run(a: argparse.Namespace) -> None:
    from mcp import Client
    from pyinstrument import Profiler

    from app.server import build_server
    from bench.inprocess import recording_context, settled

    url = a.db if "://" in a.db else bdb.sqlite_url(a.db)
    args = json.loads(a.args) if a.args else _fill(TOOL_ARGS.get(a.tool, {}), await bdb.samples(url))
    # The identity the database was synced from (the server refuses a database of another cloud); the
    # simulator need not run: the poller is off and read tools do not call it.
    auth_url = await bdb.recorded_auth_url(url)
    holder: dict[str, Any] = {}
    handler_ms: dict[str, list[float]] = defaultdict(list)
    mcp, _ = build_server(settings_for(url),
                          context_factory=lambda s: recording_context(s, auth_url, handler_ms, holder))
    async with Client(mcp) as client:
        # the fresh server's report warmer computes every report first: profiled alongside, its thread
        # would show up as time in any statement that gives up the GIL (as the tools step, wait for it)
        print(f"warmer settled after {await settled(holder):.1f} s", file=sys.stderr)
        for _ in range(3):
            r = await client.call_tool(a.tool, args)
        if r.is_error:
            print("tool error:", r.content[0].text if r.content else r, file=sys.stderr)
        prof = Profiler(interval=0.0005, async_mode="enabled")
        t0 = time.perf_counter()
        with prof:
            for _ in range(a.n):
                await client.call_tool(a.tool, args)
        print(f"{a.tool} {args}: {(time.perf_counter() - t0) * 1000 / a.n:.2f} ms per call over {a.n} calls")
    print(prof.output_text(unicode=False, color=False, show_all=a.all))


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_tool", description=__doc__)
    p.add_argument("tool")
    p.add_argument("--db", required=True, help="a SQLite file or a database URL")
    p.add_argument("--args", default="")
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--all", action="store_true", help="show library frames too")
    asyncio.run(run(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
