"""Inventory listing tools against the synced simulator fleet: counts and membership equal the
simulator's state, windows tile without overlap, filters and joins resolve, no secrets leak."""

from __future__ import annotations

import json
from typing import Any

from tests.tools.conftest import call_full as call, call_error, make_settings, mcp_client, sync_everything

# tool -> (items field, simulator kind)
LISTS = {
    "get_network_details": ("networks", "networks"),
    "get_floating_ips": ("floating_ips", "floatingips"),
    "get_routers": ("routers", "routers"),
    "get_security_groups": ("security_groups", "security_groups"),
    "get_volume_types": ("volume_types", "volume_types"),
    "get_volume_snapshots": ("snapshots", "snapshots"),
    "get_volume_list": ("volumes", "volumes"),
    "get_user_list": ("users", "users"),
    "get_project_list": ("projects", "projects"),
    "get_stacks": ("stacks", "stacks"),
    "get_image_list": ("images", "images"),
    "get_keypair_list": ("keypairs", None),
    "get_role_assignments": ("role_assignments", None),
}


def sim(synced: Any, kind: str) -> list[dict[str, Any]]:
    return list(synced.sim.state.values(kind))


async def everything(client: Any, tool: str, page: int = 200, **args: Any) -> list[dict[str, Any]]:
    """Every row of a list tool, paging with offset, checking the paging fields on the way."""
    field = LISTS[tool][0]
    rows: list[dict[str, Any]] = []
    while True:
        out = await call(client, tool, limit=page, offset=len(rows), **args)
        assert out["returned"] == len(out[field]) and out["offset"] == len(rows) and out["limit"] == page
        rows += out[field]
        assert out["has_more"] == (len(rows) < out["total"])
        if not out["has_more"]:
            assert len(rows) == out["total"]
            return rows


async def test_zero_argument_calls_and_counts_match_the_simulator(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        for tool, (field, kind) in LISTS.items():
            out = await call(client, tool)
            assert out["offset"] == 0 and out["limit"] == 50, tool
            assert out["snapshot"]["missing"] == [] and out["snapshot"]["as_of"], tool
            if kind is None:
                continue
            rows = await everything(client, tool)
            assert {r["id"] for r in rows} == {r["id"] for r in sim(synced, kind)}, tool
            # the default page: 50 rows, or fewer with the next offset when 50 would pass the answer budget
            assert out["total"] == len(rows), tool
            assert out["returned"] == min(50, len(rows)) or (
                out["truncated"] and out["has_more"] and out["next_offset"] == out["returned"] > 0), tool
        admin = next(u for u in sim(synced, "users") if u["name"] == "admin")
        keypairs = await everything(client, "get_keypair_list")
        assert {k["name"] for k in keypairs} == {k["name"] for k in sim(synced, "keypairs") if k["user_id"] == admin["id"]}
        assert all(k["fingerprint"] for k in keypairs)
        grants = await everything(client, "get_role_assignments")
        assert len(grants) == len(sim(synced, "role_assignments"))


async def test_pagination_tiles_in_name_then_id_order(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        whole = await everything(client, "get_volume_list")
        tiled = await everything(client, "get_volume_list", page=37)
        assert [v["id"] for v in tiled] == [v["id"] for v in whole]
        assert len({v["id"] for v in tiled}) == len(tiled) == len(sim(synced, "volumes"))
        keys = [((v["name"] is not None, v["name"] or ""), v["id"]) for v in whole]
        assert keys == sorted(keys)  # NULL names first (SQLite), then by name, then id
        past = await call(client, "get_volume_list", offset=len(whole) + 5)
        assert past["volumes"] == [] and past["returned"] == 0 and not past["has_more"]
        routers = (await call(client, "get_routers"))["routers"]  # all named router1: id breaks the tie
        assert [r["id"] for r in routers] == sorted(r["id"] for r in sim(synced, "routers"))


async def test_bad_windows_are_rejected_clearly(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        for tool in LISTS:
            assert "between 1 and 200" in await call_error(client, tool, limit=0)
        assert "between 1 and 200" in await call_error(client, "get_floating_ips", limit=201)
        assert "non-negative" in await call_error(client, "get_stacks", offset=-1)


async def test_networks_subnets_ports_routers_and_lookup(synced: Any) -> None:
    networks = sim(synced, "networks")
    async with mcp_client(synced.settings, synced.sim) as client:
        rows = {n["id"]: n for n in await everything(client, "get_network_details")}
        subnets = sim(synced, "subnets")
        for net in networks:
            got = rows[net["id"]]
            assert got["is_shared"] == net["shared"] and got["is_external"] == net["router:external"]
            assert {s["id"] for s in got["subnets"]} == {s["id"] for s in subnets if s["network_id"] == net["id"]}
            assert got["port_count"] == sum(p["network_id"] == net["id"] for p in sim(synced, "ports"))
            for s in got["subnets"]:
                want = next(x for x in subnets if x["id"] == s["id"])
                assert (s["cidr"], s["gateway_ip"], s["enable_dhcp"]) == (want["cidr"], want["gateway_ip"], want["enable_dhcp"])
                assert [p["start"] for p in s["allocation_pools"]] == [p["start"] for p in want["allocation_pools"]]
        interfaces = {(p["device_id"], p["network_id"]) for p in sim(synced, "ports")
                      if p["device_owner"].startswith("network:router_interface")}
        got_ifaces = {(r["id"], n["id"]) for n in rows.values() for r in n["routers"]}
        assert got_ifaces == interfaces and interfaces
        public = next(n for n in networks if n["router:external"])
        assert rows[public["id"]]["gateway_router_count"] == sum(
            (r["external_gateway_info"] or {}).get("network_id") == public["id"] for r in sim(synced, "routers")) > 0

        by_name = await call(client, "get_network_details", network_name=public["name"])
        assert [n["id"] for n in by_name["networks"]] == [public["id"]]
        by_id = await call(client, "get_network_details", network_name=public["id"])
        assert by_id["networks"] == by_name["networks"]
        err = await call_error(client, "get_network_details", network_name=public["name"][:-1] + "x")
        assert "No network named" in err and public["name"] in err
        filtered_out = await call(client, "get_network_details", network_name=public["name"], external=False)
        assert filtered_out["total"] == 0  # it exists: filtered out, not an error
        external = await call(client, "get_network_details", external=True)
        assert {n["id"] for n in external["networks"]} == {n["id"] for n in networks if n["router:external"]}
        shared = await call(client, "get_network_details", shared=True)
        assert shared["total"] == sum(bool(n["shared"]) for n in networks)


async def test_floating_ips_resolve_instances_and_filter(synced: Any) -> None:
    fips = sim(synced, "floatingips")
    ports = {p["id"]: p for p in sim(synced, "ports")}
    servers = {s["id"]: s for s in sim(synced, "servers")}
    networks = {n["id"]: n["name"] for n in sim(synced, "networks")}
    async with mcp_client(synced.settings, synced.sim) as client:
        rows = {f["id"]: f for f in await everything(client, "get_floating_ips")}
        resolved = 0
        for fip in fips:
            got = rows[fip["id"]]
            assert got["floating_ip_address"] == fip["floating_ip_address"]
            assert got["floating_network_name"] == networks[fip["floating_network_id"]]
            assert got["associated"] == (fip["port_id"] is not None)
            port = ports.get(fip["port_id"] or "")
            if port and port["device_id"] in servers:
                assert (got["server_id"], got["server_name"]) == (port["device_id"], servers[port["device_id"]]["name"])
                resolved += 1
        assert resolved > 0
        free = await everything(client, "get_floating_ips", associated=False)
        assert {f["id"] for f in free} == {f["id"] for f in fips if not f["port_id"]}
        used = await call(client, "get_floating_ips", associated=True, limit=200)
        assert used["total"] == sum(bool(f["port_id"]) for f in fips)
        active = await call(client, "get_floating_ips", status="active", limit=200)
        assert active["total"] == sum(f["status"] == "ACTIVE" for f in fips)


async def test_routers_and_security_groups(synced: Any) -> None:
    ports = sim(synced, "ports")
    projects = {p["id"]: p["name"] for p in sim(synced, "projects")}
    async with mcp_client(synced.settings, synced.sim) as client:
        routers = (await call(client, "get_routers"))["routers"]
        for r in routers:
            want = {p["id"] for p in ports if p["device_id"] == r["id"] and p["device_owner"].startswith("network:router_interface")}
            assert {i["port_id"] for i in r["interfaces"]} == want
            assert all(i["cidr"] for i in r["interfaces"])
            if r["external_network_id"]:
                assert r["external_network_name"] and r["external_ip"]
            assert isinstance(r["ha"], bool) and isinstance(r["distributed"], bool)
        groups = await everything(client, "get_security_groups")
        rules = sim(synced, "security_group_rules")
        names = {g["id"]: g["name"] for g in sim(synced, "security_groups")}
        for g in groups:
            mine = [x for x in rules if x["security_group_id"] == g["id"]]
            assert {x["id"] for x in g["rules"]} == {x["id"] for x in mine}
            for rule in g["rules"]:
                if rule["remote_group_id"]:
                    assert rule["remote_group_name"] == names[rule["remote_group_id"]]
        project_id, project_name = next((g["project_id"], g["project_name"]) for g in groups if g["project_name"] != "admin")
        by_name = await call(client, "get_security_groups", project=project_name)
        by_id = await call(client, "get_security_groups", project=project_id)
        assert by_name["security_groups"] == by_id["security_groups"]
        assert by_name["total"] == sum(g["project_id"] == project_id for g in sim(synced, "security_groups"))
        assert projects[project_id] == project_name
        default = await call(client, "get_security_groups", name="DEFAU")
        assert default["total"] == sum("default" in g["name"] for g in sim(synced, "security_groups"))


async def test_volumes_types_and_snapshots(synced: Any) -> None:
    volumes = sim(synced, "volumes")
    servers = {s["id"]: s["name"] for s in sim(synced, "servers")}
    async with mcp_client(synced.settings, synced.sim) as client:
        rows = {v["id"]: v for v in await everything(client, "get_volume_list")}
        attached = 0
        for vol in volumes:
            got = rows[vol["id"]]
            assert (got["status"], got["size_gb"], got["volume_type"]) == (vol["status"], vol["size"], vol["volume_type"])
            want = {a["server_id"] for a in vol.get("attachments") or []}
            assert {a["server_id"] for a in got["attachments"]} == want
            for a in got["attachments"]:
                assert a["server_name"] == servers.get(a["server_id"])
                attached += 1
        assert attached > 0
        orphaned = await everything(client, "get_volume_list", orphaned=True)
        want_orphans = {v["id"] for v in volumes if v["status"] == "available" and not v.get("attachments")}
        assert {v["id"] for v in orphaned} == want_orphans and want_orphans
        rest = await call(client, "get_volume_list", orphaned=False, limit=1)
        assert rest["total"] == len(volumes) - len(want_orphans)
        errors = await call(client, "get_volume_list", status="ERROR", limit=200)
        assert errors["total"] == sum(v["status"] == "error" for v in volumes) > 0
        ceph = await call(client, "get_volume_list", volume_type="ceph-ssd", limit=1)
        assert ceph["total"] == sum(v["volume_type"] == "ceph-ssd" for v in volumes)

        types = (await call(client, "get_volume_types"))["volume_types"]
        for t in types:
            want_t = next(x for x in sim(synced, "volume_types") if x["id"] == t["id"])
            assert t["extra_specs"] == {k: str(v) for k, v in (want_t.get("extra_specs") or {}).items()}
            assert t["volume_count"] == sum(v["volume_type"] == t["name"] for v in volumes)

        names = {v["id"]: v["name"] for v in volumes}
        snaps = await everything(client, "get_volume_snapshots")
        for s in snaps:
            want_s = next(x for x in sim(synced, "snapshots") if x["id"] == s["id"])
            assert (s["volume_id"], s["size_gb"], s["status"]) == (want_s["volume_id"], want_s["size"], want_s["status"])
            assert s["volume_name"] == names[s["volume_id"]] and s["progress"]
        one = snaps[0]
        of_volume = await call(client, "get_volume_snapshots", volume=one["volume_id"])
        assert one["id"] in {s["id"] for s in of_volume["snapshots"]}
        assert all(s["volume_id"] == one["volume_id"] for s in of_volume["snapshots"])


async def test_identity_catalog_and_filters(synced: Any) -> None:
    projects = sim(synced, "projects")
    async with mcp_client(synced.settings, synced.sim) as client:
        got = {p["id"]: p for p in (await call(client, "get_project_list"))["projects"]}
        for p in projects:
            assert got[p["id"]]["instance_count"] == sum(s["tenant_id"] == p["id"] for s in sim(synced, "servers"))
        users = (await call(client, "get_user_list"))["users"]
        pnames = {p["id"]: p["name"] for p in projects}
        for u in users:
            if u["default_project_id"]:
                assert u["default_project_name"] == pnames.get(u["default_project_id"])
        bob = await call(client, "get_role_assignments", user="bob")
        assert bob["total"] >= 1 and all(a["user_name"] == "bob" for a in bob["role_assignments"])
        web = await call(client, "get_role_assignments", project="web")
        assert web["total"] > 1 and all(a["project_name"] == "web" for a in web["role_assignments"])
        stacks = sim(synced, "stacks")
        failed = await call(client, "get_stacks", status="FAILED")
        assert {s["id"] for s in failed["stacks"]} == {s["id"] for s in stacks if s["stack_status"].endswith("_FAILED")}
        exact = await call(client, "get_stacks", status="create_complete")
        assert exact["total"] == sum(s["stack_status"] == "CREATE_COMPLETE" for s in stacks)
        assert all(s["project_name"] for s in exact["stacks"])
        images = sim(synced, "images")
        public = await call(client, "get_image_list", visibility="PUBLIC")
        assert public["total"] == sum(i["visibility"] == "public" for i in images)
        cirros = await call(client, "get_image_list", name="CIRROS")
        assert cirros["total"] == sum("cirros" in i["name"].lower() for i in images) > 0
        assert all(i["project_name"] == pnames.get(i["project_id"]) for i in public["images"])


async def test_no_secrets_in_any_output(synced: Any) -> None:
    emails = {u["email"] for u in sim(synced, "users") if u.get("email")}
    keys = {k["public_key"].split()[1] for k in sim(synced, "keypairs")}
    async with mcp_client(synced.settings, synced.sim) as client:
        for tool in LISTS:
            text = json.dumps(await everything(client, tool)).lower()
            for word in ("email", "password", "private_key", "public_key", "-----begin"):
                assert word not in text, (tool, word)
            assert not any(e.lower() in text for e in emails), tool
            assert not any(k.lower() in text for k in keys), tool


async def test_never_synced_kinds_are_reported_not_zeroed(make_sim: Any, tmp_path: Any) -> None:
    small = make_sim(servers=10)
    settings = make_settings(tmp_path / "partial.db")
    from app.context import open_app_context

    async with open_app_context(settings, **small.connect_kwargs()) as ctx:
        await ctx.sync.sync_all(["projects", "networks", "subnets"])
    async with mcp_client(settings, small) as client:
        out = await call(client, "get_network_details")
        assert "ports" in out["snapshot"]["missing"] and out["snapshot"]["stale"]
        assert out["total"] == len(list(small.state.values("networks")))
        assert all(n["port_count"] is None for n in out["networks"])
        projects = await call(client, "get_project_list")
        assert "servers" in projects["snapshot"]["missing"]
        assert all(p["instance_count"] is None for p in projects["projects"])
        vols = await call(client, "get_volume_list")
        assert vols["total"] == 0 and "volumes" in vols["snapshot"]["missing"]
    await sync_everything(settings, small)
    async with mcp_client(settings, small) as client:
        out = await call(client, "get_network_details")
        assert out["snapshot"]["missing"] == [] and all(isinstance(n["port_count"], int) for n in out["networks"])


# ---------------------------------------------------------------------------------------------
# Every listing in the order it promises: name then id (NULL names first), addresses numerically.

NAMED = ("get_network_details", "get_routers", "get_security_groups", "get_volume_types", "get_volume_snapshots",
         "get_volume_list", "get_user_list", "get_project_list", "get_stacks", "get_image_list", "get_keypair_list")


def name_id(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["name"] is not None, row["name"] or ""), row["id"]


async def test_every_named_listing_is_ordered_by_name_then_id(synced: Any) -> None:
    async with mcp_client(synced.settings, synced.sim) as client:
        for tool in NAMED:
            rows = await everything(client, tool, page=23)
            assert [name_id(r) for r in rows] == sorted(name_id(r) for r in rows), tool
        hyps = (await call(client, "get_hypervisor_list", limit=200))["hypervisors"]
        assert [(h["hypervisor_hostname"], h["id"]) for h in hyps] == sorted((h["hypervisor_hostname"], h["id"])
                                                                             for h in hyps)
        flavors = (await call(client, "get_flavor_list", limit=200))["flavors"]
        keys = [(f["vcpus"], f["ram_mb"], f["name"], f["id"]) for f in flavors]
        assert keys == sorted(keys)


async def test_floating_ips_are_in_numeric_address_order(synced: Any) -> None:
    import ipaddress

    async with mcp_client(synced.settings, synced.sim) as client:
        rows = await everything(client, "get_floating_ips", page=29)
    keys = [(ipaddress.ip_address(r["floating_ip_address"]).version, int(ipaddress.ip_address(r["floating_ip_address"])),
             r["id"]) for r in rows]
    assert keys == sorted(keys)
    texts = [r["floating_ip_address"] for r in rows]
    assert texts != sorted(texts), "the fleet should have addresses whose text order is not numeric (.49 < .119)"
    assert "address_key" not in rows[0]


def test_ip_sort_key_orders_numerically() -> None:
    from app.resources._common import ip_sort_key

    addresses = ["10.0.0.119", "10.0.0.49", "9.255.255.255", "2001:db8::10", "2001:db8::9", "::1", "0.0.0.0",
                 "255.255.255.255", "fe80::1"]
    ordered = sorted(addresses, key=ip_sort_key)
    assert ordered == ["0.0.0.0", "9.255.255.255", "10.0.0.49", "10.0.0.119", "255.255.255.255", "::1",
                       "2001:db8::9", "2001:db8::10", "fe80::1"]
    assert len({len(ip_sort_key(a)) for a in addresses}) == 1
    assert ip_sort_key(None) is None and ip_sort_key("") is None
    assert ip_sort_key("not-an-ip") > ip_sort_key("fe80::1")


async def test_instances_with_one_name_come_back_by_id(make_sim: Any, tmp_path: Any) -> None:
    """Six servers named alike, created in an order unrelated to their ids: every instance listing
    (all, by status, search) returns them by id, on every page size."""
    import openstack

    sim_ = make_sim(servers=20, seed=17)
    conn = openstack.connect(**sim_.connect_kwargs())
    image = next(iter(conn.image.images()))
    flavor = next(iter(conn.compute.flavors()))
    network = next(n for n in conn.network.networks() if not n.is_router_external)
    made = [conn.compute.create_server(name="twin", image_id=image.id, flavor_id=flavor.id,
                                       networks=[{"uuid": network.id}]).id for _ in range(6)]
    conn.close()
    sim_.advance(3600)
    assert made != sorted(made), "created in id order by chance: the test would prove nothing"
    settings = make_settings(tmp_path / "twins.db")
    await sync_everything(settings, sim_)
    async with mcp_client(settings, sim_) as client:
        for page in (1, 4, 200):
            got, offset = [], 0
            while True:
                out = await call(client, "search_instances", search_term="twin", limit=page, offset=offset)
                got += [i["id"] for i in out["instances"]]
                offset += out["returned"]
                if not out["has_more"]:
                    break
            assert got == sorted(made), page
        every = await call(client, "get_instance_details", all_instances=True, limit=200)
        assert [i["id"] for i in every["instances"] if i["name"] == "twin"] == sorted(made)
        status = next(iter({i["status"] for i in every["instances"] if i["name"] == "twin"}))
        by_status = await call(client, "get_instances_by_status", status=status, limit=200)
        assert [i["id"] for i in by_status["instances"] if i["name"] == "twin"] == sorted(made)
        names = [(i["name"], i["id"]) for i in every["instances"]]
        assert names == sorted(names)
