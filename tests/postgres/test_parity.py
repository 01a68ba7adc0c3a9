"""The same cloud synced into SQLite and into PostgreSQL gives the same answers, tool by tool (the
ordering over nullable columns included: page 1 of get_volume_list and get_role_assignments), and each
backend's fast paths are the ones meant for it (pg_trgm indexes serve search on PostgreSQL; SQLite's
INDEXED BY hints never reach PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from app.config import load_settings
from app.resources.registry import all_specs
from app.simulator.core import Simulator
from tests import backend
from tests.tools.conftest import call, mcp_client, sync_everything

# Per tool: the arguments of each call compared. Names with ties and NULLs on purpose.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_volume_list", {"limit": 25}),
    ("get_volume_list", {"limit": 25, "offset": 25}),
    ("get_role_assignments", {"limit": 25}),
    ("get_role_assignments", {"limit": 25, "offset": 25}),
    ("get_user_list", {"limit": 30}),
    ("get_project_list", {"limit": 30}),
    ("get_floating_ips", {"limit": 30}),
    ("get_network_details", {"limit": 10}),
    ("get_routers", {"limit": 10}),
    ("get_security_groups", {"limit": 10}),
    ("get_volume_snapshots", {"limit": 30}),
    ("get_volume_types", {}),
    ("get_image_list", {"limit": 30}),
    ("get_flavor_list", {"limit": 30}),
    ("get_keypair_list", {}),
    ("get_stacks", {"limit": 30}),
    ("get_hypervisor_list", {"limit": 30}),
    ("get_service_status", {"limit": 50}),
    ("monitor_resources", {"limit": 30}),
    ("get_cluster_status", {}),
    ("search_instances", {"search_term": "web", "search_in": "all", "limit": 50}),
    ("search_instances", {"search_term": "-0", "search_in": "name", "case_sensitive": True, "limit": 50}),
    ("search_instances", {"search_term": "ACTIVE", "search_in": "status", "case_sensitive": True, "limit": 50}),
    ("search_instances", {"search_term": "10.", "search_in": "ip", "limit": 50}),
]
# Fields that record when this database saw a row (or a report was computed from it), not what the cloud said.
LOCAL_TIME_KEYS = {"snapshot", "first_seen_at", "last_seen_at", "as_of", "age_seconds", "computed_at"}


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in LOCAL_TIME_KEYS}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ (paths and both values), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: sqlite={a!r} postgresql={b!r}"]


def settings_for(url: str) -> Any:
    return load_settings(_env_file=None, database_url=url, poller_enabled=False, cloud_name="test",
                         cold_start_wait=0.0, poll_intervals={kind: 86400.0 for kind in all_specs()})


@pytest.fixture
async def both(make_sim: Any, tmp_path: Path) -> tuple[Simulator, Any, Any]:
    sim = make_sim(servers=120, seed=21, transition_seconds=0.2)
    sim.freeze()  # the same cloud for both syncs
    lite = settings_for(backend.sqlite_url(tmp_path / "lite.db"))
    pg = settings_for(backend.database_url(tmp_path / "pg.db"))
    for s in (lite, pg):
        results = await sync_everything(s, sim)
        assert all(r.status == "succeeded" for r in results.values()), results
    return sim, lite, pg


async def test_every_read_tool_answers_the_same_on_both_backends(both: tuple[Simulator, Any, Any]) -> None:
    sim, lite, pg = both
    answers: dict[str, list[Any]] = {"lite": [], "pg": []}
    for name, settings in (("lite", lite), ("pg", pg)):
        async with mcp_client(settings, sim) as client:
            for tool, args in CALLS:
                answers[name].append(normalized(await call(client, tool, **args)))
    for (tool, args), a, b in zip(CALLS, answers["lite"], answers["pg"], strict=True):
        assert a == b, f"{tool} {args}:\n" + "\n".join(differences(a, b)[:20])
    volumes = answers["lite"][0]["volumes"]
    assert any(v.get("name") is None for v in volumes) or any(
        r is None for a in answers["lite"][2]["role_assignments"] for r in a.values()), \
        "page 1 holds no NULL in a sort column: the NULL ordering is not exercised"
    found = [a for (tool, _), a in zip(CALLS, answers["lite"], strict=True) if tool == "search_instances"]
    assert all(f["total"] > 0 for f in found), "a search matched nothing: the comparison proves little"


def test_sqlite_index_hints_are_not_rendered_for_postgresql() -> None:
    from app.resources.servers import table as servers

    stmt = select(servers.c.id).with_hint(servers, "INDEXED BY ix_servers_cloud_name", "sqlite")
    assert "INDEXED BY" not in str(stmt.compile(dialect=postgresql.dialect()))


async def test_search_uses_the_trigram_indexes(tmp_path: Path) -> None:
    """PostgreSQL answers a substring search (ILIKE, or LIKE when case-sensitive) through the ixtrgm_
    GIN indexes of migration 0009, not by scanning. The rows carry a realistic ~1.5 KB raw object (kept
    inline), so the planner weighs a scan of a fleet-sized table as it would in production."""
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.resources.servers import table as servers
    from app.services.instance_search import Matcher

    url = backend.database_url(tmp_path / "trgm.db")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            idx = {r[0] for r in await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ixtrgm_%'"))}
            assert {"ixtrgm_servers_name", "ixtrgm_server_addresses_ip_address"} <= idx
            await conn.execute(text(
                "INSERT INTO servers (cloud, id, name, status, raw, first_seen_at, last_seen_at, last_sync_id) "
                "SELECT 'test', 'id-' || n, 'srv-' || md5(n::text), 'ACTIVE', "
                "json_build_object('pad', repeat(md5(n::text), 45)), now(), now(), 1 "
                "FROM generate_series(1, 10000) AS n"))
            await conn.execute(text("ANALYZE servers"))
            for cs in (False, True):
                where = Matcher("test", "abcdef", cs, "postgresql").condition("name")
                stmt = select(servers.c.id).where(servers.c.cloud == "test", servers.c.deleted_at.is_(None), where)
                sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(r[0] for r in await conn.execute(text("EXPLAIN " + sql)))
                assert "ixtrgm_servers_name" in plan, plan
                assert ("~~*" in plan) != cs, plan  # ILIKE when case-insensitive, LIKE when case-sensitive
    finally:
        await engine.dispose()
