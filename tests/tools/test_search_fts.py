"""search_instances through the FTS5 trigram index (migration 0005) gives exactly what the LIKE/instr
scan gives: every field, both case modes, short terms (scan fallback) and terms full of SQL/FTS
metacharacters, which must match literally."""

from __future__ import annotations

from typing import Any

import pytest

from app.context import open_app_context
from app.services import instance_search, instances
from app.services.instance_search import fts_query
from tests import backend
from tests.tools.conftest import call, mcp_client

TERMS = [
    "web", "WEB", "Web", "we", "w", "0", "10.", "10.0.", "zone", "compute-0", "ACTIVE", "shut", "m1.", "large",
    "ubuntu", "admin", "ci-", "-", "--", "*", "web*", '"', '"web"', 'a"b', "NEAR", "NEAR(web db)", "web OR db",
    "web AND", "NOT web", "-web", "%", "%%", "_", "a_b", "%web%", "\\", "name:web", "{name}: web", "^web", "(web",
    "web)", "' OR 1=1 --", "ÉTÉ", "été", "\u212a", " web", "web ", "a\nb", ":", "+", "...",
]
FIELDS = instance_search.SEARCH_FIELDS


async def _search_all(app: Any, term: str, field: str, cs: bool) -> tuple[int, list[str]]:
    ids: list[str] = []
    offset, total = 0, 0
    while True:
        res = await instances.search(app, term, field, 200, offset, cs)
        total = res.total
        ids += [i.id for i in res.instances]
        offset += res.returned
        if not res.has_more:
            return total, ids


@backend.sqlite_only
async def test_fts_matches_the_scan_exactly(synced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_app_context(synced.settings, **synced.sim.connect_kwargs()) as app:
        assert await app.db.read(instance_search.has_fts), "migration 0005 did not create servers_fts"
        checked = 0
        for term in TERMS:
            if not term.strip():
                continue
            for field in FIELDS:
                for cs in (False, True):
                    fts = await _search_all(app, term, field, cs)
                    monkeypatch.setattr(instances, "has_fts", _no_fts)
                    scan = await _search_all(app, term, field, cs)
                    monkeypatch.undo()
                    assert fts == scan, (term, field, cs)
                    checked += fts[0] > 0
        assert checked > 50, "too few terms matched anything: the comparison proves little"


def _no_fts(conn: Any) -> bool:
    return False


async def test_search_terms_are_literal_through_the_tool(synced: Any) -> None:
    servers = [s for s in synced.sim.state.values("servers")]
    name = sorted(s["name"] for s in servers)[0]
    async with mcp_client(synced.settings, synced.sim) as client:
        for term in ('"', "*", "NEAR", "-", "%", "_", "web OR db", "' OR 1=1 --", "{name}:"):
            res = await call(client, "search_instances", search_term=term, search_in="all")
            assert res["total"] == 0 or all(term.lower() in str(i).lower() for i in res["instances"]), term
        res = await call(client, "search_instances", search_term=name.upper(), case_sensitive=False)
        assert name in [i["name"] for i in res["instances"]]
        res = await call(client, "search_instances", search_term=name.upper(), case_sensitive=True)
        assert name.upper() == name or name not in [i["name"] for i in res["instances"]]
        want = {s["id"] for s in servers if "%" in (s["name"] or "")}
        res = await call(client, "search_instances", search_term="%", limit=200)
        assert {i["id"] for i in res["instances"]} == want


def test_fts_query_quotes_the_term() -> None:
    assert fts_query(("name",), 'a"b') == '{name}: "a""b"'
    assert fts_query(("name", "ips"), "NEAR(x*)") == '{name ips}: "NEAR(x*)"'
