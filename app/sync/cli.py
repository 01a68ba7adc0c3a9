"""``sync-once``: migrate, run one full sync of the chosen kinds, print a per-kind summary table.

    mcp-openstack-ops sync-once [--kind servers --kind flavors] [--database-url URL] [--simulator N]

``--simulator N`` starts an in-process OpenStack simulator with N servers and syncs from it (demos,
figures); without ``--database-url`` it then writes to a temporary SQLite file. The table goes to
stdout; logs go to stderr. Exit status 1 if any kind failed.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from typing import Any

from app.config import Settings, load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("sync-once", help="Run one full sync of the snapshot and print a summary.",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                   help="Kind to sync (repeatable; default: every kind).")
    p.add_argument("--database-url", help="Snapshot database URL (default: OPS_DATABASE_URL or the user data dir).")
    p.add_argument("--simulator", type=int, metavar="N", help="Sync from an in-process simulator with N servers.")
    p.add_argument("--release", default="epoxy", help="Simulator release profile (with --simulator).")
    p.add_argument("--page-size", type=int, help="Listing page size (default: OPS_PAGE_SIZE).")
    p.add_argument("--log-level", help="Log level for stderr.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(database_url=args.database_url, page_size=args.page_size, log_level=args.log_level)
    if args.simulator is None:
        from app.cloud.targets import cloud_settings

        # every served cloud (OPS_CLOUDS), one after the other; else the one cloud
        return max(asyncio.run(_sync_once(target, args.kinds, {})) for target in cloud_settings(settings))
    from app.simulator.core import Simulator
    from app.simulator.runner import SimulatorServer

    t0 = time.perf_counter()
    server = SimulatorServer(Simulator(servers=args.simulator, release=args.release))
    sim = server.start()
    print(f"simulator: {args.simulator} servers ({args.release}) ready in {time.perf_counter() - t0:.1f}s "
          f"at {sim.base_url}", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix="sync-once-") as tmp:
            if args.database_url is None:
                settings = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp}/snapshot.db"})
            return asyncio.run(_sync_once(settings, args.kinds, sim.connect_kwargs()))
    finally:
        server.stop()


async def _sync_once(settings: Settings, kinds: list[str] | None, connect_kwargs: dict[str, Any]) -> int:
    from app.cloud.connection import CloudClient
    from app.cloud.identity import identity_of
    from app.db.clouds import bind_label
    from app.db.engine import Database, prepare_database
    from app.sync.service import SyncService

    await prepare_database(settings.database_url)
    db = Database.from_settings(settings)
    cloud = CloudClient.from_settings(settings, **connect_kwargs)
    try:
        settings = await bind_label(settings, db, identity_of(cloud.conn))
        service = SyncService(settings, db, cloud)
        for k in kinds or ():
            service.spec(k)
        t0 = time.perf_counter()
        results = await service.sync_all(kinds)
        total = time.perf_counter() - t0
    finally:
        await cloud.close()
        await db.dispose()
    print(f"cloud {settings.cloud_name}")
    print(format_table([r.as_dict() for r in results.values()]))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {total:.2f}s (kinds run concurrently); peak RSS {peak_mib:.0f} MiB; database {settings.database_url}")
    return 0 if all(r.status in ("succeeded", "unavailable") for r in results.values()) else 1


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = ("kind", "status", "seen", "added", "changed", "tombstoned", "duration_s", "error")
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    s = str(v)
    return s if len(s) <= 80 else s[:77] + "..."
