"""A server's floating addresses follow the floating IPs: Nova changes them without moving ``updated``,
so changes-since polls never report them; a floating IP sync refreshes the servers out of step."""

from __future__ import annotations

from typing import Any

import openstack

from tests.sync.helpers import query


def floating_of(db_url: str, sid: str) -> set[str]:
    return {r[0] for r in query(db_url, "SELECT ip_address FROM server_addresses WHERE server_id=:s AND "
                                        "ip_type='floating'", s=sid)}


async def test_floating_ip_changes_reach_the_servers_addresses(make_sim: Any, make_stack: Any, db_url: str) -> None:
    sim = make_sim(servers=20)
    sim.advance(3600)  # changes-since margins: the association happens well after the last full sync
    st = await make_stack(sim)
    for kind in ("servers", "ports", "floating_ips"):
        assert (await st.service.full_sync(kind)).ok
    conn = openstack.connect(**sim.connect_kwargs())
    try:
        port = next(p for p in conn.network.ports() if str(p.device_owner).startswith("compute:")
                    and p.device_id not in {f.port_details and f.port_details.get("device_id")
                                            for f in conn.network.ips() if f.port_id})
        fip = next(f for f in conn.network.ips() if not f.port_id)
        sid = port.device_id
        sim.hold_network_events = True  # Nova's cache lags behind the association for now
        conn.network.update_ip(fip, port_id=port.id)
        assert (await st.service.incremental_sync("servers")).ok
        assert fip.floating_ip_address not in floating_of(db_url, sid)  # changes-since does not report it

        assert (await st.service.full_sync("floating_ips")).ok  # Nova still lags: the refresh finds it stale
        assert fip.floating_ip_address not in floating_of(db_url, sid)
        sim.hold_network_events = False
        sim.deliver_network_events()
        assert (await st.service.full_sync("floating_ips")).ok  # no floating IP changed, the server did
        assert fip.floating_ip_address in floating_of(db_url, sid)

        conn.network.update_ip(fip, port_id=None)
        assert (await st.service.full_sync("floating_ips")).ok
        assert fip.floating_ip_address not in floating_of(db_url, sid)
        # In step: nothing more is refreshed.
        before = query(db_url, "SELECT count(*) FROM sync_runs WHERE mode='targeted'")[0][0]
        assert (await st.service.full_sync("floating_ips")).ok
        assert query(db_url, "SELECT count(*) FROM sync_runs WHERE mode='targeted'")[0][0] == before
    finally:
        conn.close()
