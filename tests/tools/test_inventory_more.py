"""Every synced kind answers (issue 13, item 5): get_port_list, get_subnet_list, get_network_agents and
get_resource through the MCP client against the synced simulator; expectations from the stored rows."""

from __future__ import annotations

import json
from typing import Any

from app.services.budget import DEFAULT_BUDGET, bounded, json_size
from tests import backend
from tests.tools.conftest import call_full as call, call_error, mcp_client


def _live(url: str, sql: str, **params: Any) -> list[Any]:
    return backend.rows(url, sql, **params)


async def test_ports_by_network_device_status_and_ip(synced: Any) -> None:
    url = synced.settings.database_url
    total = _live(url, "SELECT count(*) n FROM ports WHERE cloud='test' AND deleted_at IS NULL")[0].n
    srv = _live(url, "SELECT s.id, s.name FROM servers s JOIN ports p ON p.device_id = s.id AND p.cloud = s.cloud "
                     "WHERE s.cloud='test' AND s.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY s.name LIMIT 1")[0]
    ip = _live(url, "SELECT f.port_id, f.ip_address FROM port_fixed_ips f WHERE f.cloud='test' ORDER BY f.ip_address LIMIT 1")[0]
    net = _live(url, "SELECT n.id, n.name, count(*) c FROM networks n JOIN ports p ON p.network_id = n.id "
                     "WHERE n.cloud='test' AND n.deleted_at IS NULL AND p.deleted_at IS NULL GROUP BY n.id, n.name "
                     "ORDER BY c DESC LIMIT 1")[0]
    down = _live(url, "SELECT count(*) n FROM ports WHERE cloud='test' AND deleted_at IS NULL AND status='DOWN'")[0].n
    async with mcp_client(synced.settings, synced.sim) as client:
        page = await call(client, "get_port_list", limit=5)
        assert page["page"]["total"] == total and page["page"]["returned"] == 5 and page["page"]["has_more"]
        assert list(page)[0] == "summary" and f"{total} ports match" in page["summary"] and "offset=5" in page["summary"]
        assert sum(page["status_counts"].values()) == total

        by_dev = await call(client, "get_port_list", device=srv.name)
        assert by_dev["ports"] and all(p["device_id"] == srv.id and p["server_name"] == srv.name for p in by_dev["ports"])
        assert (await call(client, "get_port_list", device=srv.id))["page"]["total"] == by_dev["page"]["total"]

        by_ip = await call(client, "get_port_list", fixed_ip=ip.ip_address)
        assert [p["id"] for p in by_ip["ports"]] == [ip.port_id]
        prefix = ip.ip_address.rsplit(".", 1)[0] + "."
        assert (await call(client, "get_port_list", fixed_ip=prefix))["page"]["total"] >= 1

        by_net = await call(client, "get_port_list", network=net.id, limit=1)
        assert by_net["page"]["total"] == net.c and by_net["ports"][0]["network_name"] == net.name
        assert (await call(client, "get_port_list", status="DOWN"))["page"]["total"] == down
        dhcp = await call(client, "get_port_list", device_owner="network:")
        assert all(p["device_owner"].startswith("network:") for p in dhcp["ports"])

        assert (await call(client, "get_port_list", network="no-such-net"))["page"]["total"] == 0


async def test_subnets_agents_and_any_object(synced: Any) -> None:
    url = synced.settings.database_url
    subnets = _live(url, "SELECT id, name, network_id FROM subnets WHERE cloud='test' AND deleted_at IS NULL")
    agents = _live(url, "SELECT * FROM network_agents WHERE cloud='test' AND deleted_at IS NULL")
    async with mcp_client(synced.settings, synced.sim) as client:
        got = await call(client, "get_subnet_list", limit=200)
        assert {s["id"] for s in got["subnets"]} == {s.id for s in subnets}
        one = subnets[0]
        port_count = _live(url, "SELECT count(DISTINCT port_id) n FROM port_fixed_ips WHERE cloud='test' AND subnet_id=:s",
                           s=one.id)[0].n
        assert next(s for s in got["subnets"] if s["id"] == one.id)["ports"] == port_count
        v6 = await call(client, "get_subnet_list", ip_version=6)
        assert all(s["ip_version"] == 6 for s in v6["subnets"])

        ag = await call(client, "get_network_agents")
        assert ag["page"]["total"] == len(agents) and ag["down"] == sum(1 for a in agents if not a.alive)
        dead = await call(client, "get_network_agents", alive=False)
        assert dead["page"]["total"] == ag["down"] and all(a["alive"] is False for a in dead["agents"])
        if ag["down"]:
            assert "Down:" in ag["summary"] and ag["agents"][0]["alive"] is False  # dead agents first

        # get_resource: by id, by name, ambiguous, unknown (with close names), deleted by id
        port = _live(url, "SELECT id, raw FROM ports WHERE cloud='test' AND deleted_at IS NULL LIMIT 1")[0]
        obj = await call(client, "get_resource", kind="ports", id_or_name=port.id)
        assert obj["raw"] == json.loads(port.raw) and obj["live"] and not obj["clipped"]
        assert list(obj)[0] == "summary"
        rp = _live(url, "SELECT name FROM resource_providers WHERE cloud='test' LIMIT 1")[0]
        prov = await call(client, "get_resource", kind="resource_providers", id_or_name=rp.name)
        assert "inventories" in prov["raw"] and "usages" in prov["raw"]
        zone = await call(client, "get_resource", kind="availability_zones", id_or_name="nova")
        assert zone["raw"]["zoneName"] == "nova"
        err = await call_error(client, "get_resource", kind="flavors", id_or_name="m1.larg")
        assert "No flavors" in err and "m1.large" in err
        err = await call_error(client, "get_resource", kind="nonsense", id_or_name="x")
        assert "kind" in err


def test_bounded_fits_any_value_into_the_budget() -> None:
    big = {"a": "x" * 100_000, "list": [{"k": "v" * 50, "n": i} for i in range(5000)], "ok": 1}
    out, clipped = bounded(big, DEFAULT_BUDGET)
    assert clipped and json_size(out) <= DEFAULT_BUDGET and out["ok"] == 1
    assert "[clipped: 100000 characters]" in out["a"] and any("more items" in str(x) for x in out["list"])
    small = {"a": 1}
    assert bounded(small) == (small, False)
