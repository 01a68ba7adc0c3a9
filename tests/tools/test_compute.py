"""Instance, hypervisor and flavor tools against the synced simulator fleet (and small own fleets)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.simulator.core import Simulator
from tests import backend
from tests.tools.conftest import SyncedCloud, call_full as call, call_error, make_settings, mcp_client, sync_everything


def _servers(synced: SyncedCloud) -> list[dict[str, Any]]:
    return list(synced.sim.state.values("servers"))


async def _all_pages(client: Any, tool: str, page: int, key: str = "instances", **args: Any) -> tuple[int, list[dict[str, Any]]]:
    """Walk every window of a paged tool; check paging fields on the way."""
    out: list[dict[str, Any]] = []
    offset, total = 0, None
    while True:
        r = await call(client, tool, limit=page, offset=offset, **args)
        total = r["total"] if total is None else total
        assert r["total"] == total and r["returned"] == len(r[key]) and r["offset"] == offset
        assert r["has_more"] == (offset + r["returned"] < total)
        out += r[key]
        if not r["has_more"]:
            break
        offset += r["returned"]
    return total, out


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


async def test_all_instances_tile_the_fleet(synced: SyncedCloud) -> None:
    expected = {s["id"] for s in _servers(synced)}
    async with mcp_client(synced.settings, synced.sim) as client:
        total, items = await _all_pages(client, "get_instance_details", 150, all_instances=True)
    ids = _ids(items)
    assert total == len(expected) == 400
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert [(i["name"], i["id"]) for i in items] == sorted((i["name"], i["id"]) for i in items)


async def test_details_by_names_and_ids_with_not_found(synced: SyncedCloud) -> None:
    sv = sorted(_servers(synced), key=lambda s: s["_n"])
    a, b, c = sv[0], sv[1], sv[2]
    projects = {p["id"]: p["name"] for p in synced.sim.state.values("projects")}
    flavors = {f["id"]: f for f in synced.sim.state.values("flavors")}
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await call(client, "get_instance_details", instance_names=f"{a['name']}, {b['name']},nope-xyz",
                       instance_ids=f"{c['id']},00000000-dead")
        # an ID passed as a name is not a name
        err = await call_error(client, "get_instance_details", instance_names=c["id"])
        full = await call(client, "get_instance_details", instance_ids=a["id"], include_all=True)
    assert {i["id"] for i in r["instances"]} == {a["id"], b["id"], c["id"]} and r["total"] == 3
    assert r["not_found"] == ["nope-xyz", "00000000-dead"]
    got = {i["id"]: i for i in r["instances"]}[b["id"]]
    assert got["name"] == b["name"] and got["status"] == b["status"]
    assert got["host"] == b["OS-EXT-SRV-ATTR:host"] and got["availability_zone"] == b["OS-EXT-AZ:availability_zone"]
    assert got["project_id"] == b["tenant_id"] and got["project_name"] == projects[b["tenant_id"]]
    fl = flavors[b["_flavor"]]
    assert got["flavor"]["name"] == fl["name"] and got["flavor"]["vcpus"] == fl["vcpus"] and got["flavor"]["ram_mb"] == fl["ram"]
    if b["_image"]:
        assert got["image"]["id"] == b["_image"] and got["image"]["name"]
    assert got["volumes"] is None and got["security_groups"] is None  # heavy fields only with include_all
    assert "No instance matches" in err
    inst = full["instances"][0]
    assert inst["security_groups"] == ["default"] or isinstance(inst["security_groups"], list)
    assert isinstance(inst["volumes"], list) and inst["addresses"]


async def test_include_all_adds_volumes_with_names(synced: SyncedCloud) -> None:
    attached = {}
    for v in synced.sim.state.values("volumes"):
        for att in v.get("attachments") or []:
            attached.setdefault(att["server_id"], []).append(v)
    sid, vols = next(iter(attached.items()))
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await call(client, "get_instance_details", instance_ids=sid, include_all=True)
    got = {v["id"]: v for v in r["instances"][0]["volumes"]}
    for v in vols:
        assert got[v["id"]]["size_gb"] == v["size"] and got[v["id"]]["name"] == v.get("name")


async def test_details_needs_a_selection_and_valid_window(synced: SyncedCloud) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        err = await call_error(client, "get_instance_details")
        bad = [await call_error(client, tool, limit=limit, **args)
               for tool, args in (("get_instance_details", {"all_instances": True}),
                                  ("search_instances", {"search_term": "web"}),
                                  ("get_instances_by_status", {"status": "ACTIVE"}),
                                  ("get_hypervisor_list", {}))
               for limit in (0, 201, -1)]
        neg = await call_error(client, "search_instances", search_term="web", offset=-1)
    assert "all_instances=true" in err and "instance_names" in err
    assert all("limit must be an integer between 1 and 200" in e for e in bad)
    assert "offset must be a non-negative integer" in neg


async def test_by_status_counts_and_windows(synced: SyncedCloud) -> None:
    sv = _servers(synced)
    async with mcp_client(synced.settings, synced.sim) as client:
        for status in ("ACTIVE", "shutoff", "Error"):
            expected = {s["id"] for s in sv if s["status"] == status.upper()}
            total, items = await _all_pages(client, "get_instances_by_status", 37, status=status)
            assert total == len(expected) and len(items) == len(expected) and set(_ids(items)) == expected
        paused = await call(client, "get_instances_by_status", status="RESCUE")
        err = await call_error(client, "get_instances_by_status", status="running")
    assert paused["total"] == sum(s["status"] == "RESCUE" for s in sv)
    assert "Unknown instance status 'running'" in err
    assert all(s in err for s in ("ACTIVE", "SHUTOFF", "VERIFY_RESIZE", "SHELVED_OFFLOADED"))


async def test_search_case_sensitivity(synced: SyncedCloud) -> None:
    web = _expected_names(synced, "web")
    assert web, "the fleet has web-* servers"
    async with mcp_client(synced.settings, synced.sim) as client:
        insensitive = await _all_pages(client, "search_instances", 200, search_term="WeB")
        sensitive_miss = await call(client, "search_instances", search_term="Web", case_sensitive=True)
        sensitive_hit = await _all_pages(client, "search_instances", 200, search_term="web", case_sensitive=True)
    assert set(_ids(insensitive[1])) == web and insensitive[0] == len(web)
    assert sensitive_miss["total"] == 0 and sensitive_miss["instances"] == []
    assert set(_ids(sensitive_hit[1])) == web


def _expected_names(synced: SyncedCloud, term: str) -> set[str]:
    return {s["id"] for s in _servers(synced) if term.lower() in s["name"].lower()}


async def test_search_windows_tile_without_overlap(synced: SyncedCloud) -> None:
    expected = _expected_names(synced, "-0")
    async with mcp_client(synced.settings, synced.sim) as client:
        total, items = await _all_pages(client, "search_instances", 23, search_term="-0")
        beyond = await call(client, "search_instances", search_term="-0", offset=total + 5)
    ids = _ids(items)
    assert total == len(expected) and len(ids) == len(set(ids)) and set(ids) == expected
    assert beyond["returned"] == 0 and beyond["total"] == total and beyond["has_more"] is False


def _search_expectation(synced: SyncedCloud, field: str, term: str) -> set[str]:
    """Python reference implementation of search_instances over the simulator's own state."""
    st = synced.sim.state
    flavors = {f["id"]: f["name"] for f in st.values("flavors")}
    images = {i["id"]: i.get("name") or "" for i in st.values("images")}
    projects = {p["id"]: p["name"] for p in st.values("projects")}
    port_server = {p["id"]: p["device_id"] for p in st.values("ports")}
    ips: dict[str, list[str]] = {}
    for p in st.values("ports"):
        ips.setdefault(p["device_id"], []).append(p["_ip"])
    for f in st.values("floatingips"):
        if f.get("port_id") in port_server:
            ips.setdefault(port_server[f["port_id"]], []).append(f["floating_ip_address"])
    fields = {
        "name": lambda s: [s["name"]],
        "status": lambda s: [s["status"]],
        "host": lambda s: [s["OS-EXT-SRV-ATTR:host"], s["OS-EXT-SRV-ATTR:hypervisor_hostname"]],
        "flavor": lambda s: [flavors.get(s["_flavor"])],
        "image": lambda s: [s["_image"], images.get(s["_image"])] if s["_image"] else [],
        "availability_zone": lambda s: [s["OS-EXT-AZ:availability_zone"]],
        "project": lambda s: [s["tenant_id"], projects.get(s["tenant_id"])],
        "ip": lambda s: ips.get(s["id"], []),
    }
    use = list(fields) if field == "all" else [field]
    t = term.lower()
    return {s["id"] for s in st.values("servers")
            if any(v and t in v.lower() for f in use for v in fields[f](s))}


@pytest.mark.parametrize("field,term", [
    ("status", "shut"), ("host", "compute-000"), ("flavor", "m1.sm"), ("availability_zone", "zone-"),
    ("image", "cirros"), ("project", "web"), ("all", "web"), ("name", "db-00"),
])
async def test_search_fields_match_the_simulator(synced: SyncedCloud, field: str, term: str) -> None:
    expected = _search_expectation(synced, field, term)
    assert expected, f"no expected matches for {field}={term}"
    async with mcp_client(synced.settings, synced.sim) as client:
        total, items = await _all_pages(client, "search_instances", 200, search_term=term, search_in=field)
    assert total == len(expected) and set(_ids(items)) == expected


async def test_search_ip_finds_the_owner(synced: SyncedCloud) -> None:
    servers = {s["id"] for s in _servers(synced)}
    port = next(p for p in synced.sim.state.values("ports") if p["device_id"] in servers)
    ip = port["_ip"]
    async with mcp_client(synced.settings, synced.sim) as client:
        r = await call(client, "search_instances", search_term=ip, search_in="ip", limit=200)
        err = await call_error(client, "search_instances", search_term="x", search_in="colour")
    assert port["device_id"] in _ids(r["instances"])
    assert all(any(ip in a for a in i["ips"]) for i in r["instances"])  # brief items: addresses as ips
    assert set(_ids(r["instances"])) == _search_expectation(synced, "ip", ip)
    assert "search_in must be one of" in err and "availability_zone" in err


async def test_instance_by_name_id_and_not_found(synced: SyncedCloud) -> None:
    s = sorted(_servers(synced), key=lambda x: x["_n"])[5]
    typo = s["name"][:-1] + ("x" if s["name"][-1] != "x" else "y")
    async with mcp_client(synced.settings, synced.sim) as client:
        by_name = await call(client, "get_instance_by_name", instance_name=s["name"])
        by_id = await call(client, "get_instance_by_name", instance_name=s["id"])
        err = await call_error(client, "get_instance_by_name", instance_name=typo)
        partial = await call_error(client, "get_instance_by_name", instance_name=s["name"][:-2])
    assert by_name["instance"]["id"] == s["id"] == by_id["instance"]["id"]
    assert by_name["instance"]["security_groups"] is not None and by_name["instance"]["volumes"] is not None
    assert by_name["snapshot"]["stale"] is False
    assert f"No instance named (or with ID) {typo!r}" in err and s["name"] in err and "Did you mean" in err
    assert "search_instances" in partial


async def test_ambiguous_name_is_a_conflict(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(servers=12, seed=3)
    a, b = list(sim.state.values("servers"))[:2]
    b["name"] = a["name"]
    settings = make_settings(tmp_path / "dup.db")
    await sync_everything(settings, sim)
    async with mcp_client(settings, sim) as client:
        err = await call_error(client, "get_instance_by_name", instance_name=a["name"])
        both = await call(client, "get_instance_details", instance_names=a["name"])
        one = await call(client, "get_instance_by_name", instance_name=b["id"])
    assert "2 instances are named" in err and a["id"] in err and b["id"] in err and a["status"] in err
    assert {i["id"] for i in both["instances"]} == {a["id"], b["id"]}
    assert one["instance"]["id"] == b["id"]


async def test_hypervisors_and_flavors(synced: SyncedCloud) -> None:
    st = synced.sim.state
    hyps = list(st.values("hypervisors"))
    placed = sum(1 for s in st.values("servers") if s["OS-EXT-SRV-ATTR:hypervisor_hostname"])
    async with mcp_client(synced.settings, synced.sim) as client:
        total, items = await _all_pages(client, "get_hypervisor_list", 3, key="hypervisors")
        enabled = await call(client, "get_hypervisor_list", status="enabled", limit=200)
        bad = await call_error(client, "get_hypervisor_list", status="broken")
        flv = await call(client, "get_flavor_list")
    assert total == len(hyps) and {h["id"] for h in items} == {str(h["id"]) for h in hyps}
    assert sum(h["instances"] for h in items) == placed
    services = {c["id"]: c for c in st.values("compute_services")}
    assert enabled["total"] == sum(services[h["_service"]]["status"] == "enabled" for h in hyps) < len(hyps) + 1
    assert all(h["status"] == "enabled" for h in enabled["hypervisors"])
    for h in items:  # capacity comes from Placement here, and the percentages agree with it
        assert h["capacity_source"] == "placement" and h["memory_mb_total"] > 0
        assert h["memory_used_pct"] == pytest.approx(100 * h["memory_mb_used"] / h["memory_mb_total"], abs=0.06)
    assert "status must be one of" in bad
    assert flv["total"] == st.count("flavors")
    assert sum(f["instances"] for f in flv["flavors"]) == st.count("servers")


async def test_hypervisor_pages_match_the_capacity_view(synced: SyncedCloud) -> None:
    """A page computes capacity for its own hypervisors only: the numbers are the view's, row by row."""
    cols = ("capacity_source", "vcpus_total", "vcpus_used", "memory_mb_total", "memory_mb_used", "disk_gb_total",
            "disk_gb_used", "vcpus_used_pct", "memory_used_pct", "disk_used_pct")
    view = {r.hypervisor_id: r for r in backend.rows(
        synced.settings.database_url, "SELECT * FROM v_hypervisor_capacity WHERE cloud = :c", c="test")}
    async with mcp_client(synced.settings, synced.sim) as client:
        _total, items = await _all_pages(client, "get_hypervisor_list", 7, key="hypervisors")
    assert [h["hypervisor_hostname"] for h in items] == sorted(h["hypervisor_hostname"] for h in items)
    assert {h["id"] for h in items} == set(view)
    for h in items:  # (PostgreSQL gives the view's NUMERIC columns as Decimal)
        want = {c: float(v) if isinstance(v, Decimal) else v for c in cols for v in [getattr(view[h["id"]], c)]}
        assert {c: h[c] for c in cols} == pytest.approx(want), h["id"]
