"""When reports are computed, measured on a snapshot database (docs/performance.md, issue 11 item 2).

    python scripts/report_timings.py /path/to/copy-of-snapshot.db [cloud-label]

Use a COPY of a database (the script migrates it and bumps one data version). It times, in one process
without a cloud connection or poller:

1. the background rebuilds (get_cluster_status and monitor_resources with their default arguments, the
   hot instance match sets), as the report rebuilder runs them after a sync;
2. requests that find the current report (wall median/max and CPU per call, the read thread included);
3. a data version moving (``snapshot_versions`` of servers bumped, as a sync commit does): the rebuilder
   starts, and requests meanwhile get the previous report, marked; how many, and how long they took.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

from sqlalchemy import text

from app.config import load_settings
from app.context import AppContext
from app.db.engine import Database, prepare_database
from app.metrics import Metrics
from app.services import cluster_status as cs
from app.services import resources_monitor as rm
from app.services.report_warmer import ReportWarmer, warm_match_sets
from app.sync.service import SyncService

REQUESTS = 50


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


async def cluster(app: AppContext) -> Any:
    return await cs.cluster_status(app, stuck_after_minutes=60, max_evidence=5, threshold_crit=cs.DEFAULT_CRIT)


async def monitor(app: AppContext) -> Any:
    warn, crit, limit, offset = rm.DEFAULTS
    return await rm.monitor_resources(app, threshold_warn=warn, threshold_crit=crit, limit=limit, offset=offset)


async def main(path: str, label: str) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await prepare_database(url)
    settings = load_settings(_env_file=None, database_url=url, poller_enabled=False, cloud_name=label,
                             cold_start_wait=0.0)
    db = Database.from_settings(settings)
    # No cloud connection: nothing here talks to OpenStack (the sync service is only asked what runs).
    app = AppContext(settings=settings, db=db, cloud=None, sync=SyncService(settings, db, None),  # type: ignore[arg-type]
                     poller=None, metrics=Metrics())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, rebuild in (("get_cluster_status", cs.rebuild), ("monitor_resources", rm.rebuild)):
        t0 = time.perf_counter()
        await rebuild(app)
        print(f"background rebuild {name}: {_ms(t0):.0f} ms")
    t0 = time.perf_counter()
    n = await warm_match_sets(app)
    print(f"background match sets ({n} computed): {_ms(t0):.0f} ms")

    app.warmer = ReportWarmer()
    app.reports.rebuilder = app.warmer
    for name, ask in (("get_cluster_status", cluster), ("monitor_resources", monitor)):
        await ask(app)
        walls = []
        cpu = time.process_time()
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            report = await ask(app)
            walls.append(_ms(t0))
        cpu_ms = (time.process_time() - cpu) * 1000 / REQUESTS
        assert report.computed.current
        print(f"request {name}, current report: median {statistics.median(walls):.2f} ms, "
              f"max {max(walls):.2f} ms, CPU {cpu_ms:.2f} ms per call")

    async with db.writer() as conn:
        await conn.execute(text("UPDATE snapshot_versions SET version = version + 1 "
                                "WHERE cloud = :c AND kind = 'servers'"), {"c": label})
    app.warmer.start(app)  # its first look sees the version moved and rebuilds
    walls, marked, first = [], 0, None
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        report = await cluster(app)
        walls.append(_ms(t0))
        if report.computed.current:
            break
        marked += 1
        first = first or report.summary.splitlines()[0]
        await asyncio.sleep(0.01)
    print(f"data version moved: {marked} requests got the previous report, marked, during the "
          f"{_ms(t_start):.0f} ms rebuild; request median {statistics.median(walls):.2f} ms, max {max(walls):.2f} ms")
    print(f"  their first line: {first!r}")
    await app.warmer.stop()
    await db.dispose()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "bench"))
