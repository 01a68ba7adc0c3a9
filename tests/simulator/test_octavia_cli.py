"""The unmodified ``openstack`` CLI with python-octaviaclient (test extra) against the simulator: what
an operator types works (issue 14: "the openstack CLI lists load balancers from the simulator").
python-octaviaclient talks to ``<endpoint>/v2.0`` with its own paging loop, not openstacksdk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.simulator.core import Simulator

CLI = shutil.which("openstack")


def openstack(sim: Simulator, tmp_path: Path, *args: str, output: bool = True) -> Any:
    assert CLI, "the openstack CLI is missing: pip install -e '.[test]' (python-octaviaclient)"
    cfg = tmp_path / "clouds.yaml"
    cfg.write_text(sim.clouds_yaml())
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cfg), "OS_CLOUD": "simulator"}
    for k in [k for k in env if k.startswith("OS_") and k not in ("OS_CLIENT_CONFIG_FILE", "OS_CLOUD")]:
        env.pop(k)
    r = subprocess.run([CLI, *args, *(["-f", "json"] if output else [])], env=env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout) if output else None


@pytest.fixture
def small(make_sim: Any) -> Simulator:
    return make_sim(servers=60)


def test_openstack_loadbalancer_list_show_and_children(small: Simulator, tmp_path: Path) -> None:
    sim = small
    listed = openstack(sim, tmp_path, "loadbalancer", "list")
    assert {x["name"] for x in listed} == {x["name"] for x in sim.state.values("lb_loadbalancers")}
    assert {x["provisioning_status"] for x in listed} == {"ACTIVE", "ERROR"}
    shown = openstack(sim, tmp_path, "loadbalancer", "show", "lb-0001")
    assert shown["operating_status"] == "DEGRADED" and shown["vip_address"]
    pool_id = next(x for x in sim.state.values("lb_loadbalancers") if x["name"] == "lb-0001")["pools"][0]["id"]
    members = openstack(sim, tmp_path, "loadbalancer", "member", "list", pool_id)
    assert "ERROR" in {m["operating_status"] for m in members}
    assert len(openstack(sim, tmp_path, "loadbalancer", "amphora", "list")) == sim.state.count("lb_amphorae")


def test_openstack_loadbalancer_create_and_delete(small: Simulator, tmp_path: Path) -> None:
    sim = small
    subnet = next(s for s in sim.state.values("subnets") if s["ip_version"] == 4 and s["name"] != "public-subnet")
    made = openstack(sim, tmp_path, "loadbalancer", "create", "--name", "cli-lb", "--vip-subnet-id", subnet["id"])
    assert made["provisioning_status"] == "PENDING_CREATE" and made["vip_subnet_id"] == subnet["id"]
    sim.advance(sim.transition_seconds + 0.1)
    assert openstack(sim, tmp_path, "loadbalancer", "show", "cli-lb")["provisioning_status"] == "ACTIVE"
    openstack(sim, tmp_path, "loadbalancer", "delete", "cli-lb", output=False)
    assert sim.state.get("lb_loadbalancers", made["id"]) is None
