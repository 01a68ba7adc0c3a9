"""``mcp-openstack-ops simulator``: run the OpenStack API simulator standalone."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulator", help="run the built-in OpenStack API simulator (a demo cloud)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--servers", type=int, default=2000, help="number of instances in the generated fleet")
    p.add_argument("--release", default="epoxy", help="train, wallaby, yoga or epoxy")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    p.add_argument("--transition-seconds", type=float, default=2.0, help="how long state transitions take")
    p.add_argument("--churn-interval", type=float, default=None,
                   help="seconds between churn events (instances created, failing, deleted); off by default")
    p.add_argument("--fault", action="append", default=[], metavar="REGEX:STATUS[:RATE]",
                   help="inject HTTP errors on matching paths, e.g. '/servers/detail:503:0.1' (repeatable)")
    p.add_argument("--password", default="secret")
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from app.simulator.core import Simulator
    from app.simulator.runner import serve_forever

    t0 = time.perf_counter()
    sim = Simulator(
        release=args.release, seed=args.seed, servers=args.servers, latency=args.latency,
        token_ttl=args.token_ttl, transition_seconds=args.transition_seconds,
        churn_interval=args.churn_interval, password=args.password,
    )
    for spec in args.fault:
        parts = spec.rsplit(":", 2)
        if len(parts) == 3 and _is_float(parts[2]) and parts[1].isdigit():
            sim.inject(parts[0], status=int(parts[1]), rate=float(parts[2]))
        elif len(parts) >= 2 and parts[-1].isdigit():
            sim.inject(":".join(parts[:-1]), status=int(parts[-1]))
        else:
            print(f"bad --fault {spec!r}; expected REGEX:STATUS[:RATE]", file=sys.stderr)
            return 2
    sim.base_url = f"http://{args.host}:{args.port}"
    elapsed = time.perf_counter() - t0
    print(f"# OpenStack simulator ({sim.release.name}), {args.servers} instances generated in {elapsed:.1f}s", file=sys.stderr)
    print("# clouds.yaml:", file=sys.stderr)
    print(sim.clouds_yaml(), file=sys.stderr)
    print("# or environment:", file=sys.stderr)
    for k, v in sim.os_env().items():
        print(f"export {k}={v}", file=sys.stderr)
    serve_forever(sim, args.host, args.port)
    return 0


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
