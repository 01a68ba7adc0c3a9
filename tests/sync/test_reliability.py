"""Incremental sync, re-authentication, retries, 403 handling and secret stripping, against the
simulator over HTTP."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from app.resources.base import SECRET_KEYS
from app.sync.freshness import freshness
from tests.sync.helpers import NthRequest, count_requests, count_rows, file_bytes, query


async def test_incremental_picks_up_state_change_and_deletion(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=60)
    st = await make_stack(sim, page_size=10)
    first = await st.service.incremental_sync("servers")
    assert first.mode == "full" and first.ok  # nothing to be incremental from yet
    active = [s["id"] for s in sim.state.values("servers") if s["status"] == "ACTIVE"]
    target, victim = active[0], active[1]
    conn = st.cloud.conn
    await asyncio.to_thread(conn.compute.stop_server, target)
    await asyncio.to_thread(conn.compute.delete_server, victim)
    sim.advance(30)  # let the stop finish
    counter = count_requests(sim)

    inc = await st.service.incremental_sync("servers")
    assert inc.mode == "incremental" and inc.ok, inc.error
    assert counter.hits(r"/servers/detail$") == 1  # one short page, not the 6 pages of a full listing
    assert inc.seen < 10 and inc.tombstoned == 1 and inc.changed >= 1
    assert inc.details["since"]
    row = query(db_url, "SELECT status, deleted_at FROM servers WHERE id=:i", i=target)[0]
    assert row == ("SHUTOFF", None)
    assert query(db_url, "SELECT deleted_at FROM servers WHERE id=:i", i=victim)[0][0] is not None
    assert count_rows(db_url, "servers", "deleted_at IS NULL") == 59


async def test_incremental_falls_back_to_full_when_reconcile_is_due(make_sim, make_stack) -> None:
    sim = make_sim(servers=10)
    st = await make_stack(sim, full_reconcile_interval=0.001)
    assert (await st.service.full_sync("servers")).ok
    await asyncio.sleep(0.01)
    assert (await st.service.incremental_sync("servers")).mode == "full"


async def test_token_expiring_mid_listing_reauthenticates(make_sim, make_stack) -> None:
    sim = make_sim(servers=60)
    st = await make_stack(sim, page_size=10)
    counter = count_requests(sim)
    sim.faults.append(NthRequest(r"/servers/detail$", nth=3, effect=sim.expire_tokens))
    r = await st.service.full_sync("servers")
    assert r.ok and r.seen == 60
    assert counter.hits(r"/auth/tokens$", "POST") >= 2


async def test_503_burst_mid_listing_is_retried(make_sim, make_stack) -> None:
    sim = make_sim(servers=30)
    st = await make_stack(sim, page_size=10)
    counter = count_requests(sim)
    sim.inject(r"/servers/detail$", status=503, count=3)
    r = await st.service.full_sync("servers")
    assert r.ok and r.seen == 30
    assert counter.hits(r"/servers/detail$") >= 3 + 3


async def test_403_marks_kind_unavailable_without_failing_others(make_sim, make_stack) -> None:
    sim = make_sim(servers=10)
    st = await make_stack(sim)
    specs = st.service.specs
    kind = next((k for k, s in specs.items() if s.admin_only), "flavors")
    path = specs[kind].listing.path
    sim.inject(re.escape(path) + "$", status=403)
    results = await st.service.sync_all()
    # kinds listed from the same path are refused together (project_quotas lists Keystone's projects too)
    refused = {k for k, s in specs.items() if (s.listing.service, s.listing.path) == (specs[kind].listing.service, path)}
    assert all(results[k].status == "unavailable" for k in refused)
    assert "forbid" in (results[kind].error or "").lower()
    assert all(r.ok for k, r in results.items() if k not in refused)
    fresh = await freshness(st.db, st.settings, [kind])
    assert fresh.unavailable == (kind,) and fresh.stale


def _secret_values(obj: Any, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.lower() in SECRET_KEYS and isinstance(v, str) and len(v) >= 6:
                out.add(v)
            else:
                _secret_values(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _secret_values(v, out)


async def test_no_secret_reaches_the_database_file(make_sim, make_stack, db_url) -> None:
    sim = make_sim(servers=30, password="Pw-4-the-simulated-admin")
    st = await make_stack(sim)
    conn = st.cloud.conn
    kp = await asyncio.to_thread(conn.compute.create_keypair, name="sync-test-key")
    user_data = base64.b64encode(b"#cloud-config\npassword: Cl0ud-1nit-Secret\n").decode()
    server = sim.state.values("servers").__iter__().__next__()
    image_id = (server.get("image") or {}).get("id") or next(iter(sim.state.coll("images")))
    flavor_id = next(iter(sim.state.coll("flavors")))
    net_id = next(iter(sim.state.coll("networks")))
    created = await asyncio.to_thread(
        conn.compute.create_server, name="with-secrets", image_id=image_id, flavor_id=flavor_id,
        networks=[{"uuid": net_id}], user_data=user_data, admin_password="Adm1n-Pass-Injected",
        key_name="sync-test-key",
    )
    results = await st.service.sync_all()
    assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items() if not r.ok}
    assert (await st.service.refresh("servers", [created.id])).ok
    await st.db.dispose()

    secrets: set[str] = {sim.password, "Adm1n-Pass-Injected", user_data, "Cl0ud-1nit-Secret"}
    if kp.private_key:
        secrets.add(kp.private_key.strip().splitlines()[1])
    for kind in list(sim.state.kinds):
        _secret_values(list(sim.state.values(kind)), secrets)
    data = file_bytes(db_url)
    leaked = sorted(s for s in secrets if s.encode() in data)
    assert not leaked
    assert b"PRIVATE KEY" not in data
    assert not re.search(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}", data), "an e-mail address was stored"
