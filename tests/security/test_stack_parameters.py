"""Heat returns the values of stack parameters the template does not mark ``hidden`` in clear
(``GET /stacks/{id}``). The snapshot keeps their names only: after a full sync and a targeted refresh
(the path write-through takes) of a fleet stack whose template has an unhidden ``api_secret``, the
database file holds the name and never the value. The session-end scan (tests/conftest.py) looks for
the same value in every test database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from app.context import open_app_context
from app.resources.stacks import SPEC, parameter_names
from app.simulator.core import Simulator
from app.simulator.heat_fleet import STACK_PARAM_SECRET
from tests.tools.conftest import make_settings


def test_clean_raw_keeps_parameter_names_only() -> None:
    raw = {"id": "s1", "stack_name": "web", "stack_status": "CREATE_COMPLETE",
           "parameters": {"OS::stack_id": "s1", "api_secret": "v4lue", "db_password": "******"}}
    clean = SPEC.clean_raw(raw)
    assert "parameters" not in clean
    assert clean["parameter_names"] == ["OS::stack_id", "api_secret", "db_password"]
    assert "v4lue" not in json.dumps(clean)
    assert raw["parameters"]["api_secret"] == "v4lue"  # the API object itself is not mutated
    assert parameter_names({"parameters": None}) == []
    assert "parameter_names" not in SPEC.clean_raw({"id": "s2", "stack_name": "listed"})  # list bodies have none


def test_refreshed_stack_stores_parameter_names_not_values(make_sim: Callable[..., Simulator],
                                                           tmp_path: Path) -> None:
    sim = make_sim(servers=300, seed=5)
    web = [s for s in sim.state.values("stacks") if s["stack_name"].startswith("web-")]
    assert web, "the fleet has web stacks"
    db_path = tmp_path / "stacks.db"
    settings = make_settings(db_path)

    async def run() -> None:
        async with open_app_context(settings, **sim.connect_kwargs()) as ctx:
            assert (await ctx.sync.full_sync("stacks")).ok
            result = await ctx.sync.refresh("stacks", [s["id"] for s in web])
            assert result.ok and result.seen == len(web)

    asyncio.run(run())
    with sqlite3.connect(db_path) as db:
        raws = [json.loads(r) for (r,) in db.execute("SELECT raw FROM stacks WHERE id IN (%s)" % ",".join(
            "?" * len(web)), [s["id"] for s in web])]
    assert len(raws) == len(web)
    for raw in raws:
        assert "api_secret" in raw["parameter_names"], raw
        assert "parameters" not in raw
    data = b"".join(p.read_bytes() for p in tmp_path.glob("stacks.db*"))
    assert STACK_PARAM_SECRET.encode() not in data
