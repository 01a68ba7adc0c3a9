"""manage_floating_ip through the MCP client against the simulator: create (default external network,
optionally mapped at once), associate to an instance resolved in the snapshot (several ports -> a
clear error until fixed_ip says which), disassociate and delete (confirmed), list; the floating IP row
and the instance's addresses follow right after each call; every call is audited."""

from __future__ import annotations

from typing import Any

from app.services.operations import converge
from app.simulator import neutron
from tests import backend
from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_error, mcp_client


def free_server(fleet: Fleet, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """An active server with one IPv4 port, no floating IP, and a router to the external network."""
    ix = neutron.idx(fleet.sim)
    for s in fleet.sim.state.values("servers"):
        pids = ix.ports_by_device.get(s["id"], [])
        if s["id"] in skip or len(pids) != 1 or pids[0] in ix.fip_by_port:
            continue
        fixed = neutron.port_fixed_ips(fleet.sim.state.get("ports", pids[0]))
        if fixed and ix.router_by_subnet.get(fixed[0]["subnet_id"]):
            try:
                return _checked(fleet, s)
            except AssertionError:
                continue
    raise AssertionError("no free server")


def _checked(fleet: Fleet, s: dict[str, Any]) -> dict[str, Any]:
    names = [x["name"] for x in fleet.sim.state.values("servers")]
    assert names.count(s["name"]) == 1 and fleet.row("servers", s["id"])
    return s


def addresses(fleet: Fleet, server_id: str) -> set[tuple[str, str]]:
    return {tuple(r) for r in backend.rows(
        fleet.url, "SELECT ip_address, ip_type FROM server_addresses WHERE server_id = :s", s=server_id)}


def port_of(fleet: Fleet, server_id: str) -> str:
    return neutron.idx(fleet.sim).ports_by_device[server_id][0]


async def confirmed(client: Any, **args: Any) -> dict[str, Any]:
    preview = await call(client, "manage_floating_ip", **args)
    assert preview["status"] == "confirmation_required" and "Nothing was changed" in preview["message"]
    return await call(client, "manage_floating_ip", confirmation_token=preview["confirmation_token"], **args)


async def test_fip_lifecycle(fleet: Fleet) -> None:
    s = free_server(fleet)
    fleet.sim.freeze()  # the floating IP goes ACTIVE when this test moves the clock
    async with managed_client(fleet) as m:
        client = m.client
        made = await call(client, "manage_floating_ip", action="create", description="ops test")
        fid = made["targets"][0]["id"]
        addr = made["targets"][0]["name"]
        assert made["status"] == "accepted" and made["request_ids"]
        sim_fip = fleet.sim.state.get("floatingips", fid)
        assert sim_fip["floating_network_id"] == neutron.idx(fleet.sim).public_net
        row = fleet.row("floating_ips", fid)
        assert row["floating_ip_address"] == addr and row["port_id"] is None and row["status"] == "DOWN"
        assert "external network public" in made["preview"][0]

        linked = await call(client, "manage_floating_ip", action="associate", floating_ip_id=addr,
                            instance_name=s["name"])
        assert linked["status"] == "accepted"
        assert sim_fip["port_id"] == port_of(fleet, s["id"])
        row = fleet.row("floating_ips", fid)
        assert row["port_id"] == port_of(fleet, s["id"]) and row["server_id"] == s["id"]
        assert (addr, "floating") in addresses(fleet, s["id"])  # the instance's row follows at once
        assert fleet.row("floating_ips", fid)["status"] == "DOWN"
        fleet.sim.advance(60)  # Neutron's L3 agent wires it
        await m.followups.run()  # the follow-up refresh sees it
        assert fleet.row("floating_ips", fid)["status"] == "ACTIVE"

        listed = await call(client, "manage_floating_ip", action="list", floating_ip_id=addr)
        assert [f["id"] for f in listed["listing"]["floating_ips"]] == [fid]
        assert listed["listing"]["floating_ips"][0]["server_name"] == s["name"]

        # disassociate: a preview first, nothing changes until confirmed
        preview = await call(client, "manage_floating_ip", action="disassociate", floating_ip_id=fid)
        assert preview["status"] == "confirmation_required" and s["id"] in preview["preview"][0]
        assert sim_fip["port_id"] is not None and fleet.row("floating_ips", fid)["port_id"] is not None
        done = await call(client, "manage_floating_ip", action="disassociate", floating_ip_id=fid, wait=True,
                          timeout=10, confirmation_token=preview["confirmation_token"])
        assert done["status"] == "completed" and done["targets"][0]["fields"]["port_id"] is None
        assert sim_fip["port_id"] is None and fleet.row("floating_ips", fid)["status"] == "DOWN"
        assert (addr, "floating") not in addresses(fleet, s["id"])
        again = await call_error(client, "manage_floating_ip", action="disassociate", floating_ip_id=fid)
        assert "not associated" in again

        gone = await confirmed(client, action="delete", floating_ip_id=addr, wait=True, timeout=10)
        assert gone["status"] == "completed" and gone["targets"][0]["deleted"] is True
        assert fleet.sim.state.get("floatingips", fid) is None
        assert fleet.row("floating_ips", fid)["deleted_at"] is not None
    audit = [(a["action"], a["outcome"]) for a in fleet.audit()]
    assert audit == [("create", "succeeded"), ("associate", "succeeded"), ("list", "succeeded"),
                     ("disassociate", "preview"), ("disassociate", "succeeded"), ("disassociate", "refused"),
                     ("delete", "preview"), ("delete", "succeeded")]
    assert fid in fleet.audit()[1]["targets"] and port_of(fleet, s["id"]) in fleet.audit()[1]["arguments"]


async def test_create_mapped_at_once_and_move_needs_confirmation(fleet: Fleet) -> None:
    a = free_server(fleet)
    b = free_server(fleet, skip=(a["id"],))
    fleet.sim.freeze()  # no L3 agent wires the floating IP while this test runs: it stays DOWN
    async with mcp_client(fleet.settings, fleet.sim) as client:
        made = await call(client, "manage_floating_ip", action="create", floating_network_id="public",
                          instance_name=a["id"], wait=True, timeout=60)
        fid = made["targets"][0]["id"]
        # mapped is done when Neutron set port_id; the DOWN status is reported, not waited for
        assert made["status"] == "completed" and made["targets"][0]["status"] == "DOWN"
        assert made["targets"][0]["fields"]["port_id"] == port_of(fleet, a["id"])
        assert "association is done" in made["message"] and "status as DOWN" in made["message"]
        assert fleet.row("floating_ips", fid)["server_id"] == a["id"]
        addr = made["targets"][0]["name"]
        assert (addr, "floating") in addresses(fleet, a["id"])

        # moving it to another instance takes it away from the first: confirmation required
        preview = await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                             instance_name=b["name"])
        assert preview["status"] == "confirmation_required" and "loses it" in preview["preview"][0]
        assert fleet.sim.state.get("floatingips", fid)["port_id"] == port_of(fleet, a["id"])
        moved = await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                           instance_name=b["name"], confirmation_token=preview["confirmation_token"])
        assert moved["status"] == "accepted"
        assert fleet.row("floating_ips", fid)["server_id"] == b["id"]
        assert (addr, "floating") in addresses(fleet, b["id"])
        assert (addr, "floating") not in addresses(fleet, a["id"])  # the old instance's row is refreshed too
        same = await call_error(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                                instance_name=b["name"])
        assert "already associated" in same


async def test_instance_with_several_ports_needs_fixed_ip(fleet: Fleet) -> None:
    s = free_server(fleet)
    first = fleet.sim.state.get("ports", port_of(fleet, s["id"]))
    from app.context import open_app_context

    async with open_app_context(fleet.settings, **fleet.sim.connect_kwargs()) as app:
        conn = app.cloud.conn
        extra = await app.cloud.run(lambda: conn.network.create_port(
            network_id=first["network_id"], device_id=s["id"], device_owner="compute:nova"), doing="t")
        await app.sync.refresh("ports", [extra.id])
    second_ip = next(f["ip_address"] for f in neutron.port_fixed_ips(fleet.sim.state.get("ports", extra.id)))
    async with mcp_client(fleet.settings, fleet.sim) as client:
        free = await call(client, "manage_floating_ip", action="create")
        fid = free["targets"][0]["id"]
        err = await call_error(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                               instance_name=s["name"])
        wrong = await call_error(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                                 instance_name=s["name"], fixed_ip="10.255.255.1")
        assert fleet.sim.state.get("floatingips", fid)["port_id"] is None
        ok = await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                        instance_name=s["name"], fixed_ip=second_ip)
    assert "several IPv4 addresses" in err and first["id"] in err and extra.id in err and "fixed_ip" in err
    assert "no port with fixed IP 10.255.255.1" in wrong
    assert ok["targets"][0]["fields"]["port_id"] == extra.id
    assert fleet.sim.state.get("floatingips", fid)["fixed_ip_address"] == second_ip


async def test_refusals_change_nothing(fleet: Fleet) -> None:
    before = fleet.sim.state.count("floatingips")
    taken = next(f for f in fleet.sim.state.values("floatingips") if f.get("port_id"))
    async with mcp_client(fleet.settings, fleet.sim) as client:
        internal = await call_error(client, "manage_floating_ip", action="create", floating_network_id="shared")
        preview = await call(client, "manage_floating_ip", action="delete", floating_ip_id=taken["id"])
        no_target = await call_error(client, "manage_floating_ip", action="associate", floating_ip_id=taken["id"])
        missing = await call_error(client, "manage_floating_ip", action="associate", floating_ip_id=taken["id"],
                                   instance_name="no-such-instance")
        bad = await call_error(client, "manage_floating_ip", action="allocate")
        forged = await call_error(client, "manage_floating_ip", action="delete", floating_ip_id=taken["id"],
                                  confirmation_token="confirm-forged")
    assert "not external" in internal and "public" in internal
    assert "Release floating IP" in preview["preview"][0] and preview["targets"][0]["fields"]["port_id"]
    assert "needs instance_name" in no_target
    assert "No live instance" in missing
    assert "Unknown action 'allocate'" in bad and "create, associate, disassociate, delete, list" in bad
    assert "Unknown confirmation token" in forged
    assert fleet.sim.state.count("floatingips") == before and taken["port_id"]
    assert [a["outcome"] for a in fleet.audit()] == ["refused", "preview", "refused", "refused", "refused", "refused"]


async def test_associate_on_a_cloud_whose_floating_ips_stay_down(fleet: Fleet) -> None:
    """No L3 agent (as in ../shared/real-openstack): Neutron maps the address (port_id) but its status stays DOWN.
    associate with wait=true completes on the mapping and says so; it does not time out waiting for ACTIVE."""
    s = free_server(fleet)
    fleet.sim.freeze()
    async with mcp_client(fleet.settings, fleet.sim) as client:
        fid = (await call(client, "manage_floating_ip", action="create"))["targets"][0]["id"]
        out = await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                         instance_name=s["name"], wait=True, timeout=30)
    assert out["status"] == "completed" and out["waited_seconds"] < 30
    t = out["targets"][0]
    assert t["status"] == "DOWN" and t["fields"]["port_id"] == port_of(fleet, s["id"])
    assert "association is done" in out["message"] and "L3 agent" in out["message"]
    assert fleet.audit()[-1]["outcome"] == "succeeded"


async def test_instance_addresses_follow_nova_when_its_cache_lags(fleet: Fleet) -> None:
    """Nova shows a server's floating address only once its network info cache caught up with Neutron, after
    the call returned: a background follow-up refreshes the server until its addresses agree with the floating
    IP (associate, disassociate and delete, wait=true), instead of keeping the old view for good."""
    s = free_server(fleet)
    fleet.sim.hold_network_events = True  # Nova's cache lags until the test delivers Neutron's events
    async with managed_client(fleet) as m:
        client = m.client
        made = await call(client, "manage_floating_ip", action="create", wait=True, timeout=60)
        fid, addr = made["targets"][0]["id"], made["targets"][0]["name"]

        out = await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                         instance_name=s["name"], wait=True, timeout=60)
        assert out["status"] == "completed" and out["targets"][0]["fields"]["server_id"] == s["id"]
        assert (addr, "floating") not in addresses(fleet, s["id"])  # Nova still shows the old addresses
        assert "follow up until they agree" in out["message"] and m.followups.pending == 1
        fleet.sim.deliver_network_events()
        await m.followups.run()
        assert (addr, "floating") in addresses(fleet, s["id"])

        out = await confirmed(client, action="disassociate", floating_ip_id=fid, wait=True, timeout=60)
        assert out["status"] == "completed" and (addr, "floating") in addresses(fleet, s["id"])
        fleet.sim.deliver_network_events()
        await m.followups.run()
        assert (addr, "floating") not in addresses(fleet, s["id"])

        await call(client, "manage_floating_ip", action="associate", floating_ip_id=fid, instance_name=s["name"],
                   wait=True, timeout=60)
        fleet.sim.deliver_network_events()
        await m.followups.run()
        assert (addr, "floating") in addresses(fleet, s["id"])
        out = await confirmed(client, action="delete", floating_ip_id=fid, wait=True, timeout=60)
        assert out["status"] == "completed" and out["targets"][0]["deleted"] is True
        assert (addr, "floating") in addresses(fleet, s["id"])
        fleet.sim.deliver_network_events()
        await m.followups.run()
        assert (addr, "floating") not in addresses(fleet, s["id"])


async def test_unwaited_associate_follows_up_until_addresses_agree(fleet: Fleet) -> None:
    s = free_server(fleet)
    fleet.sim.hold_network_events = True
    async with managed_client(fleet) as m:
        fid = (await call(m.client, "manage_floating_ip", action="create"))["targets"][0]["id"]
        await m.followups.run()
        out = await call(m.client, "manage_floating_ip", action="associate", floating_ip_id=fid,
                         instance_name=s["name"])
        addr = out["targets"][0]["name"]
        assert out["status"] == "accepted" and (addr, "floating") not in addresses(fleet, s["id"])
        fleet.sim.deliver_network_events()
        await m.followups.run()
        assert (addr, "floating") in addresses(fleet, s["id"])


async def test_address_follow_up_is_bounded(fleet: Fleet) -> None:
    """If Nova never catches up, the follow-up gives up after its schedule (the poller takes over)."""
    s = free_server(fleet)
    fleet.sim.hold_network_events = True
    async with managed_client(fleet) as m:
        fid = (await call(m.client, "manage_floating_ip", action="create", wait=True, timeout=60))["targets"][0]["id"]
        await call(m.client, "manage_floating_ip", action="associate", floating_ip_id=fid, instance_name=s["name"],
                   wait=True, timeout=60)
        await m.followups.run()
        assert m.followups.waits == len(converge.SETTLE_DELAYS) and m.followups.pending == 0
    assert all(ip_type != "floating" for _ip, ip_type in addresses(fleet, s["id"]))
