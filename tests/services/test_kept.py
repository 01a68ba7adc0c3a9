"""Fleet-wide counts of the list tools kept per data version (app/services/kept.py, issue 11 item 3):
the port status counts, the volume total and the instances per flavor are counted once while the
kinds they come from keep their data version, again when that version moves, and never kept for a
restricted caller or a filtered list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.context import open_app_context
from app.services import compute_catalog, inventory_more, inventory_storage
from tests.tools.conftest import make_settings

# the statements themselves (background report rebuilds run other counts meanwhile)
PORT_COUNTS = "SELECT ports.status, count(*) AS count_1 FROM ports WHERE ports.cloud = ? AND ports.deleted_at IS NULL"
VOLUME_TOTAL = "SELECT count(*) AS count_1 FROM (SELECT 1 FROM volumes WHERE volumes.cloud = ? AND volumes.deleted_at IS NULL)"
FLAVOR_COUNTS = "FROM servers WHERE servers.cloud = ? AND servers.deleted_at IS NULL AND servers.flavor_"


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # PostgreSQL's placeholders (%(name)s, with casts) as SQLite's
        seen.append(re.sub(r"%\(\w+\)s(::\w+)?", "?", " ".join(statement.split())))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def ran(seen: list[str], marker: str) -> int:
    return sum(1 for s in seen if marker in s)


async def test_whole_kind_counts_are_counted_once_per_data_version(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(servers=30)
    async with open_app_context(make_settings(tmp_path / "kept.db"), **sim.connect_kwargs()) as app:
        await app.sync.sync_all()
        no_filter: dict[str, Any] = {"network": None, "device": None, "device_owner": None, "status": None,
                                     "fixed_ip": None, "host": None, "project": None, "name": None}
        vol_args: dict[str, Any] = {"status": None, "orphaned": None, "project": None, "volume_type": None,
                                    "availability_zone": None, "name": None}

        async def answers() -> tuple[Any, Any, Any]:
            return (await inventory_more.port_list(app, limit=5, offset=0, **no_filter),
                    await inventory_storage.volume_list(app, limit=5, offset=0, **vol_args),
                    await compute_catalog.flavor_list(app, limit=50, offset=0))

        with statements() as seen:
            ports1, vols1, flavors1 = await answers()
            ports2, vols2, flavors2 = await answers()
        assert (ran(seen, PORT_COUNTS), ran(seen, VOLUME_TOTAL), ran(seen, FLAVOR_COUNTS)) == (1, 1, 2)
        assert ports2.status_counts == ports1.status_counts and ports2.page.total == ports1.page.total
        assert ports1.page.total == sum(ports1.status_counts.values()) > 0
        assert vols2.total == vols1.total > 0
        assert [f.instances for f in flavors2.flavors] == [f.instances for f in flavors1.flavors]

        # a filtered list counts its own match set every time
        with statements() as seen:
            for _ in range(2):
                await inventory_more.port_list(app, limit=5, offset=0, **{**no_filter, "status": "ACTIVE"})
        assert ran(seen, PORT_COUNTS) == 2

        # servers move: the instances per flavor are counted again (and right), ports and volumes are not
        victim = next(s for s in sim.state.values("servers") if s["status"] == "ACTIVE")
        sim.state.remove("servers", victim["id"])
        await app.sync.full_sync("servers")
        with statements() as seen:
            ports3, vols3, flavors3 = await answers()
        assert (ran(seen, PORT_COUNTS), ran(seen, VOLUME_TOTAL), ran(seen, FLAVOR_COUNTS)) == (0, 0, 2)
        assert sum(f.instances for f in flavors3.flavors) == sum(f.instances for f in flavors1.flavors) - 1

        # a port goes: its counts are counted again
        port = next(p for p in sim.state.values("ports") if p.get("device_owner", "").startswith("network:"))
        sim.state.remove("ports", port["id"])
        await app.sync.full_sync("ports")
        with statements() as seen:
            ports4 = await inventory_more.port_list(app, limit=5, offset=0, **no_filter)
        assert ran(seen, PORT_COUNTS) == 1 and ports4.page.total == ports1.page.total - 1
