"""A tiny poller process for the two-process lease test.

``python -m tests.sync.poller_proc`` with ``OPS_DATABASE_URL`` and the simulator's ``OS_*`` variables;
prints ``LEADER <owner>`` / ``FOLLOWER <owner>`` lines on stdout when leadership changes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from app.cloud.connection import CloudClient
from app.config import load_settings
from app.db.engine import Database
from app.resources.registry import get_spec
from app.sync.scheduler import Poller
from app.sync.service import SyncService


async def main() -> None:
    settings = load_settings(
        _env_file=None, database_url=os.environ["OPS_DATABASE_URL"], cloud_name="test",
        lease_ttl=float(os.environ.get("TEST_LEASE_TTL", "2")),
        lease_renew_interval=float(os.environ.get("TEST_LEASE_RENEW", "0.4")),
        poll_intervals={"flavors": 0.5},
    )
    db = Database.from_settings(settings)
    cloud = CloudClient.from_settings(settings)
    service = SyncService(settings, db, cloud, specs={"flavors": get_spec("flavors")})
    poller: Poller | None = None

    def changed(leader: bool) -> None:
        assert poller is not None
        print(f"{'LEADER' if leader else 'FOLLOWER'} {poller.owner}", flush=True)

    poller = Poller(settings, db, service, on_leader_change=changed)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await poller.start()
    print(f"STARTED {poller.owner}", flush=True)
    await stop.wait()
    await poller.stop()
    await cloud.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
