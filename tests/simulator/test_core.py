"""Simulator knobs through openstacksdk: latency, injected faults, token expiry and re-authentication,
churn."""

from __future__ import annotations

import time
from typing import Any

import openstack
import pytest
from openstack import exceptions

from app.simulator.churn import churn_once


def test_latency_knob(make_sim: Any) -> None:
    sim = make_sim(servers=10, latency=0.15)
    conn = openstack.connect(**sim.connect_kwargs())
    list(conn.compute.flavors())  # auth + discovery done
    t0 = time.perf_counter()
    list(conn.compute.flavors())
    assert time.perf_counter() - t0 >= 0.15


def test_injected_503_is_retried(sim: Any) -> None:
    conn = openstack.connect(**sim.connect_kwargs(), status_code_retries=3)
    list(conn.compute.flavors())
    rule = sim.inject(r"/servers/detail", status=503, count=2)
    servers = list(conn.compute.servers(details=True, all_projects=True))
    assert len(servers) == sim.state.count("servers") and rule.fired == 2


def test_injected_500_raises_with_compute_body(sim: Any, conn: Any) -> None:
    sim.inject(r"/os-hypervisors", status=500, count=1)
    with pytest.raises(exceptions.HttpException) as ei:
        list(conn.compute.hypervisors())
    assert ei.value.status_code == 500
    assert len(list(conn.compute.hypervisors())) == sim.state.count("hypervisors")  # spent after one


def test_token_expiry_and_reauthentication(make_sim: Any) -> None:
    sim = make_sim(token_ttl=1.0)
    conn = openstack.connect(**sim.connect_kwargs())
    list(conn.compute.flavors())
    first = conn.session.get_token()
    sim.expire_tokens()  # server-side: the cached token now answers 401
    assert len(list(conn.compute.flavors())) > 0  # keystoneauth re-authenticates on 401 and retries
    assert conn.session.get_token() != first
    assert len(sim.tokens) >= 2
    time.sleep(1.1)  # natural expiry of the lifetime
    assert len(list(conn.compute.servers(all_projects=True))) == sim.state.count("servers")


def test_churn_creates_fails_and_deletes(sim: Any, conn: Any) -> None:
    import random

    before = {s.id for s in conn.compute.servers(all_projects=True)}
    ev = churn_once(sim, random.Random(1))
    assert all(ev.values())
    after = {s.id: s for s in conn.compute.servers(details=True, all_projects=True)}
    assert ev["created"] in after and ev["created"] not in before
    assert after[ev["failed"]].status == "ERROR" and after[ev["failed"]].fault["code"] == 500
    assert ev["deleted"] not in after
    time.sleep(sim.transition_seconds + 0.1)
    assert conn.compute.get_server(ev["created"]).status == "ACTIVE"


def test_churn_runs_in_background(make_sim: Any) -> None:
    sim = make_sim(servers=30, churn_interval=0.1)
    conn = openstack.connect(**sim.connect_kwargs())
    time.sleep(0.6)
    names = [s.name for s in conn.compute.servers(all_projects=True)]
    assert any("-churn-" in n for n in names)
