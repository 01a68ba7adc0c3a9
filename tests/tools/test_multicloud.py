"""Several clouds in one server (OPS_CLOUDS, issue 15 part 1): two simulators as two clouds.yaml
entries, one process, one database. Each answer is about the cloud it names; each cloud has its own
poller lease; a cloud that fails does not stale the other; ambiguity and unknown clouds are refused
with the list of clouds; a management call writes to the cloud it names only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from app.config import Settings, load_settings
from app.context import CORE_KINDS, open_app_context
from app.resources.registry import all_specs
from app.server import build_server
from app.simulator.core import Simulator
from app.simulator.runner import SimulatorServer
from tests import backend
from tests.tools.conftest import call, call_error

LABELS = ("prod", "staging")


@dataclass
class Clouds:
    servers: dict[str, SimulatorServer]
    db_path: Path

    def sim(self, label: str) -> Simulator:
        return self.servers[label].sim

    def settings(self, **overrides: Any) -> Settings:
        overrides.setdefault("poller_enabled", False)
        # Freshness must not expire while a loaded machine runs the test: a day per kind (a failed
        # sync is stale whatever its age).
        overrides.setdefault("poll_intervals", {kind: 86400.0 for kind in all_specs()})
        return load_settings(_env_file=None, database_url=backend.database_url(self.db_path), clouds=",".join(LABELS),
                             cold_start_wait=0.0, **overrides)


def clouds_yaml(sims: dict[str, Simulator]) -> dict[str, Any]:
    """A clouds.yaml with one entry per simulator (what an operator writes for prod and staging)."""
    clouds = {}
    for label, sim in sims.items():
        kw = sim.connect_kwargs()
        clouds[label] = {
            "auth": {k: kw[k] for k in ("auth_url", "username", "password", "project_name", "user_domain_name",
                                        "project_domain_name")},
            "region_name": kw["region_name"], "identity_api_version": kw["identity_api_version"],
        }
    return {"clouds": clouds}


@pytest.fixture
def clouds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clouds]:
    """prod (5 instances) and staging (9), each a simulator of its own, in one clouds.yaml."""
    servers = {"prod": SimulatorServer(Simulator(servers=5, seed=11, transition_seconds=0.2)),
               "staging": SimulatorServer(Simulator(servers=9, seed=12, transition_seconds=0.2))}
    sims = {label: s.start() for label, s in servers.items()}
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds_yaml(sims)))
    for name in [n for n in os.environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    db_path = tmp_path / "data" / "snapshot.db"
    backend.migrated_url(db_path)
    yield Clouds(servers, db_path)
    for s in servers.values():
        s.stop()


async def sync_both(c: Clouds) -> None:
    async with open_app_context(c.settings()) as app:
        assert app.labels == list(LABELS)
        for label, view in app.for_all():
            results = await view.sync.sync_all()
            failed = {k: r.status for k, r in results.items() if r.status not in ("succeeded", "unavailable")}
            assert not failed, (label, failed)


async def test_answers_are_per_cloud(clouds: Clouds) -> None:
    await sync_both(clouds)
    mcp, _ = build_server(clouds.settings(allow_modify_operations=True))
    async with Client(mcp) as client:
        # the cloud argument is on every tool but get_clouds, its enum the served labels
        tools = {t.name: t for t in (await client.list_tools()).tools}
        prop = tools["get_instance_details"].input_schema["properties"]["cloud"]
        assert [b.get("enum") for b in prop["anyOf"] if b.get("type") == "string"] == [list(LABELS)]
        assert "cloud" in tools["manage_keypair"].input_schema["properties"]
        assert "cloud" not in tools["get_clouds"].input_schema["properties"]

        # without cloud: refused, naming both; an unknown cloud: refused, naming both
        err = await call_error(client, "get_instance_details", all_instances=True)
        assert "serves 2 clouds: prod, staging" in err and "`cloud`" in err
        err = await call_error(client, "get_instance_details", all_instances=True, cloud="dev")
        assert "No cloud 'dev' here" in err and "prod, staging" in err

        # each cloud's answer is its own fleet, and says which cloud it is about
        for label in LABELS:
            got = await call(client, "get_instance_details", all_instances=True, limit=50, cloud=label)
            assert got["snapshot"]["cloud"] == label
            ids = {i["id"] for i in got["instances"]}
            truth = {s["id"] for s in clouds.sim(label).state.values("servers")}
            assert ids == truth and len(ids) == {"prod": 5, "staging": 9}[label]
            text = (await client.call_tool("get_sync_status", {"cloud": label})).content[0].text
            assert text.startswith(f"Cloud {label}.")

        # the report spanning clouds: one entry per cloud, summary first
        report = await call(client, "get_clouds")
        assert [c["cloud"] for c in report["clouds"]] == list(LABELS)
        assert [c["instances"] for c in report["clouds"]] == [5, 9]
        assert all(c["ready"] and c["auth_host"] and c["snapshot"]["cloud"] == c["cloud"]
                   for c in report["clouds"]), report
        assert report["summary"].startswith("2 clouds served")

        # resources resolve per cloud
        sid = next(iter(clouds.sim("staging").state.values("servers")))["id"]
        body = (await client.read_resource(f"openstack://staging/instances/{sid}")).contents[0].text
        assert sid in body and '"cloud": "staging"' in body
        with pytest.raises(Exception, match="No servers with ID or name"):
            await client.read_resource(f"openstack://prod/instances/{sid}")

        # a management call writes to the cloud it names, and only there
        await call(client, "manage_keypair", keypair_name="mc-key", action="create", cloud="staging")

    def keys(label: str) -> set[str]:
        return {k["name"] for k in clouds.sim(label).state.values("keypairs")}

    assert "mc-key" in keys("staging") and "mc-key" not in keys("prod")


def lease_rows(c: Clouds) -> dict[str, str]:
    return {r.name: r.owner for r in backend.rows(backend.database_url(c.db_path),
                                                  "SELECT name, owner FROM poller_lease")}


async def wait_for(predicate: Any, what: str, state: Any, timeout: float = 180.0) -> None:
    """Poll an async predicate (states, not instants; generous bound for a loaded machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}: {await state()}"
        await asyncio.sleep(0.2)


async def test_a_lease_per_cloud_and_a_failing_cloud_stales_only_itself(clouds: Clouds) -> None:
    settings = clouds.settings(poller_enabled=True, lease_renew_interval=0.5)
    async with open_app_context(settings) as app:
        views = dict(app.for_all())

        async def both_synced() -> bool:
            snaps = [await v.snapshot(CORE_KINDS, wait=False) for v in views.values()]
            return all(not s.missing and not s.stale for s in snaps)

        await wait_for(both_synced, "both clouds' first syncs", lambda: asyncio.gather(
            *(v.serving_readiness() for v in views.values())))
        # two pollers, each holding its own lease row
        owners = lease_rows(clouds)
        assert {n: o for n, o in owners.items() if n.startswith("poller:")} == {
            f"poller:{label}": views[label].poller.owner for label in LABELS}  # type: ignore[union-attr]
        assert views["prod"].poller.owner != views["staging"].poller.owner  # type: ignore[union-attr]

        # staging's cloud goes away: its syncs fail, prod's snapshot stays fresh and ready
        clouds.servers["staging"].stop()
        await views["staging"].sync.sync_all(CORE_KINDS)
        staging = await views["staging"].snapshot(["servers"], wait=False)
        prod = await views["prod"].snapshot(["servers"], wait=False)
        assert staging.cloud == "staging" and staging.stale and staging.kinds[0].status == "failed"
        assert prod.cloud == "prod" and not prod.stale and prod.kinds[0].status == "ok"

        ready = await app.serving_readiness()
        assert ready["ready"] is True and ready["not_ready_clouds"] == ["staging"]
        assert ready["reason"].startswith("cloud staging: ")
        assert [(r["cloud"], r["ready"]) for r in ready["clouds"]] == [("prod", True), ("staging", False)]

        samples = await app.snapshot_samples()
        assert samples["prod"].leader and samples["staging"].leader
        assert samples["prod"].kinds["servers"].rows == 5 and not samples["prod"].kinds["servers"].stale
        assert samples["staging"].kinds["servers"].stale


async def test_single_cloud_is_unchanged(synced: Any) -> None:
    """One cloud: `cloud` may be omitted, its enum is that one label, answers name it."""
    from tests.tools.conftest import mcp_client

    async with mcp_client(synced.settings, synced.sim) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        prop = tools["get_sync_status"].input_schema["properties"]["cloud"]
        assert [b.get("enum") for b in prop["anyOf"] if b.get("type") == "string"] == [["test"]]
        got = await call(client, "get_sync_status")
        assert got["snapshot"]["cloud"] == "test"
        assert (await call(client, "get_sync_status", cloud="test"))["snapshot"]["cloud"] == "test"
        text = (await client.call_tool("get_sync_status", {})).content[0].text
        assert not text.startswith("Cloud ")
        report = await call(client, "get_clouds")
        assert [c["cloud"] for c in report["clouds"]] == ["test"] and report["clouds"][0]["instances"] == 400


def test_ops_clouds_all_and_bad_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cloud.targets import cloud_settings
    from app.errors import InvalidArgument

    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"a": {"auth": {"auth_url": "http://a:5000/v3"}},
                                               "b": {"auth": {"auth_url": "http://b:5000/v3"}}}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    got = cloud_settings(load_settings(_env_file=None, clouds="all"))
    assert [(s.os_cloud, s.cloud_name) for s in got] == [("a", "a"), ("b", "b")]
    with pytest.raises(InvalidArgument, match="OPS_CLOUD_LABEL cannot be combined"):
        cloud_settings(load_settings(_env_file=None, clouds="a,b", cloud_name="x"))
    with pytest.raises(ValueError, match="cannot be a cloud label"):
        load_settings(_env_file=None, clouds="a,b c")
