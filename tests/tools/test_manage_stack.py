"""manage_stack through the MCP client against the simulator: create from an inline template and from a
file under an allowed directory, update and delete (confirmed), list; wait=True follows the stack to
*_COMPLETE with progress; invalid templates and parameters are refused with a clear message before
anything is sent; a stack going to *_FAILED is an error."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.operations.helpers import Fleet, fleet, managed_client  # noqa: F401 (fixture)
from tests.tools.conftest import call, call_current, call_error, mcp_client

TEMPLATE = """heat_template_version: 2018-08-31
description: ops test
parameters:
  size:
    type: number
  db_password:
    type: string
    hidden: true
    default: s3cret-default
resources:
  vol:
    type: OS::Cinder::Volume
    properties:
      size: {get_param: size}
outputs:
  vol_id:
    value: {get_resource: vol}
"""
TEMPLATE_V2 = TEMPLATE.replace("resources:\n", "resources:\n  net:\n    type: OS::Neutron::Net\n")


def sim_stack(fleet: Fleet, sid: str) -> dict[str, Any] | None:
    s = fleet.sim.state.get("stacks", sid)
    return fleet.sim.settle(s) if s is not None else None


async def test_stack_lifecycle_with_wait_and_progress(fleet: Fleet) -> None:
    progress: list[str | None] = []

    async def on_progress(_p: float, _t: float | None, message: str | None) -> None:
        progress.append(message)

    fleet.sim.freeze()  # the create completes when this test moves the clock
    async with managed_client(fleet) as m:
        client = m.client
        made = await call(client, "manage_stack", stack_name="ops-stack", action="create", template=TEMPLATE,
                          parameters=json.dumps({"size": 2, "db_password": "hunter2-pw"}))
        sid = made["targets"][0]["id"]
        assert made["status"] == "accepted" and "1 resources" in made["preview"][0]
        assert fleet.row("stacks", sid)["status"] == "CREATE_IN_PROGRESS"
        assert sim_stack(fleet, sid)["_params"] == {"size": 2, "db_password": "hunter2-pw"}
        fleet.sim.advance(60)
        await m.followups.run()
        assert fleet.row("stacks", sid)["status"] == "CREATE_COMPLETE"  # the follow-up refresh converged it
        fleet.sim.unfreeze()  # from here on: waits for final states on a running clock

        preview = await call(client, "manage_stack", stack_name="ops-stack", action="update", template=TEMPLATE_V2,
                             parameters={"size": 3})
        assert preview["status"] == "confirmation_required" and "replace its template" in preview["preview"][0]
        assert sim_stack(fleet, sid)["stack_status"] == "CREATE_COMPLETE"
        res = await client.call_tool("manage_stack", {
            "stack_name": "ops-stack", "action": "update", "template": TEMPLATE_V2, "parameters": {"size": 3},
            "confirmation_token": preview["confirmation_token"], "wait": True, "timeout": 60},
            progress_callback=on_progress)
        upd = res.structured_content
        assert upd["status"] == "completed" and upd["targets"][0]["status"] == "UPDATE_COMPLETE"
        assert fleet.row("stacks", sid)["status"] == "UPDATE_COMPLETE"
        stack = sim_stack(fleet, sid)
        assert stack["_params"]["size"] == 3 and stack["_params"]["db_password"] == "hunter2-pw"  # PATCH keeps it
        assert set(stack["_resources"]) == {"vol", "net"}
        assert progress and "1/1 done" in progress[-1]

        listed = await call(client, "manage_stack", stack_name="ops-stack", action="list")
        assert [s["id"] for s in listed["listing"]["stacks"]] == [sid]

        preview = await call(client, "manage_stack", stack_name=sid, action="delete")
        assert "every resource" in preview["preview"][0] and sim_stack(fleet, sid) is not None
        gone = await call(client, "manage_stack", stack_name=sid, action="delete", wait=True, timeout=60,
                          confirmation_token=preview["confirmation_token"])
        assert gone["status"] == "completed" and gone["targets"][0]["deleted"] is True
        assert sim_stack(fleet, sid) is None and fleet.row("stacks", sid)["deleted_at"] is not None
    audit = fleet.audit()
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("create", "succeeded"), ("update", "preview"), ("update", "succeeded"), ("list", "succeeded"),
        ("delete", "preview"), ("delete", "succeeded")]
    assert "hunter2-pw" not in json.dumps(audit) and '"db_password": "***"' in audit[0]["arguments"].replace('":"', '": "')


def heat_listed(fleet: Fleet) -> set[str]:
    """Stack ids Heat lists (global_tenant), through openstacksdk like any client."""
    import openstack

    conn = openstack.connect(**fleet.sim.connect_kwargs())
    try:
        return {s["id"] for s in conn.orchestration.get("/stacks", params={"global_tenant": "True"}).json()["stacks"]}
    finally:
        conn.close()


def test_simulated_heat_shows_deleted_stacks_by_id_only(fleet: Fleet) -> None:
    """Like real Heat (checked against ../shared/real-openstack): after a delete completes, GET by id (302 to
    /stacks/<name>/<id>) still answers the stack as DELETE_COMPLETE, by name answers 404, the list omits it."""
    import openstack

    s = next(x for x in fleet.sim.state.values("stacks") if fleet.sim.settle(x)["stack_status"] == "CREATE_COMPLETE")
    conn = openstack.connect(**fleet.sim.connect_kwargs())
    try:
        path = f"/stacks/{s['stack_name']}/{s['id']}"
        assert conn.orchestration.delete(path).status_code == 204
        fleet.sim.advance(60)
        by_id = conn.orchestration.get(f"/stacks/{s['id']}")
        by_name = conn.orchestration.get(f"/stacks/{s['stack_name']}")
        again = conn.orchestration.delete(path)
    finally:
        conn.close()
    assert by_id.status_code == 200 and by_id.json()["stack"]["stack_status"] == "DELETE_COMPLETE"
    assert by_id.json()["stack"]["deletion_time"]
    assert by_name.status_code == 404 and again.status_code == 404
    assert s["id"] not in heat_listed(fleet)


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "followup"])
async def test_deleted_stack_leaves_the_snapshot(fleet: Fleet, wait: bool) -> None:
    """Heat keeps showing a deleted stack by id (DELETE_COMPLETE); the snapshot tombstones it, so get_stacks and
    get_cluster_status count what Heat lists, with wait=true and with the follow-up of an un-waited delete."""
    s = next(x for x in fleet.sim.state.values("stacks") if fleet.sim.settle(x)["stack_status"] == "CREATE_COMPLETE"
             and [y["stack_name"] for y in fleet.sim.state.values("stacks")].count(x["stack_name"]) == 1)
    if not wait:
        fleet.sim.freeze()
    async with managed_client(fleet) as m:
        preview = await call(m.client, "manage_stack", stack_name=s["stack_name"], action="delete")
        out = await call(m.client, "manage_stack", stack_name=s["stack_name"], action="delete", wait=wait,
                         timeout=60, confirmation_token=preview["confirmation_token"])
        if wait:
            assert out["status"] == "completed" and out["targets"][0]["deleted"] is True
        else:
            assert out["status"] == "accepted" and out["targets"][0]["status"] == "DELETE_IN_PROGRESS"
            fleet.sim.advance(60)  # Heat finishes: its GET by id now says DELETE_COMPLETE
            await m.followups.run()
        assert fleet.row("stacks", s["id"])["deleted_at"] is not None
        listed = await call(m.client, "get_stacks", limit=200)
        status = await call_current(m.client, "get_cluster_status")
    heat = heat_listed(fleet)
    assert s["id"] not in heat
    assert {x["id"] for x in listed["stacks"]} == heat and listed["total"] == len(heat)
    assert status["stacks"]["total"] == len(heat) and "DELETE_COMPLETE" not in status["stacks"]["by_status"]


async def test_template_from_allowed_dir_only(fleet: Fleet, tmp_path: Path) -> None:
    allowed = tmp_path / "templates"
    allowed.mkdir()
    (allowed / "vol.yaml").write_text(TEMPLATE)
    (tmp_path / "elsewhere.yaml").write_text(TEMPLATE)
    (allowed / "escape.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    settings = fleet.settings.model_copy(update={"stack_template_dirs": [str(allowed)]})
    async with mcp_client(settings, fleet.sim) as client:
        out = await call(client, "manage_stack", stack_name="from-file", action="create",
                         template_path=str(allowed / "vol.yaml"), parameters={"size": 1}, wait=True, timeout=20)
        dotdot = await call_error(client, "manage_stack", stack_name="x", action="create",
                                  template_path=f"{allowed}/../elsewhere.yaml", parameters={"size": 1})
        link = await call_error(client, "manage_stack", stack_name="x", action="create",
                                template_path=str(allowed / "escape.yaml"), parameters={"size": 1})
        both = await call_error(client, "manage_stack", stack_name="x", action="create", template=TEMPLATE,
                                template_path=str(allowed / "vol.yaml"))
    async with mcp_client(fleet.settings, fleet.sim) as client:  # no template dirs configured
        disabled = await call_error(client, "manage_stack", stack_name="x", action="create",
                                    template_path=str(allowed / "vol.yaml"), parameters={"size": 1})
    assert out["status"] == "completed" and out["targets"][0]["status"] == "CREATE_COMPLETE"
    assert "outside the directories" in dotdot and "outside the directories" in link
    assert "not both" in both
    assert "OPS_STACK_TEMPLATE_DIRS" in disabled
    assert [s["stack_name"] for s in fleet.sim.state.values("stacks")].count("x") == 0


async def test_invalid_templates_and_parameters_are_refused(fleet: Fleet) -> None:
    before = fleet.sim.state.count("stacks")
    cases = {
        "yaml": ("heat_template_version: 2018-08-31\nresources:\n  a: [unclosed\n", None),
        "json": ('{"heat_template_version": "2018-08-31", "resources": }', None),
        "not a mapping": ("- just\n- a list\n", None),
        "no version": ("resources:\n  a:\n    type: OS::Nova::Server\n", None),
        "no type": ("heat_template_version: 2018-08-31\nresources:\n  a:\n    properties: {}\n", None),
        "undeclared": (TEMPLATE, {"size": 1, "colour": "red"}),
        "missing": (TEMPLATE, None),
        "bad json params": (TEMPLATE, "{size: 1"),
    }
    async with mcp_client(fleet.settings, fleet.sim) as client:
        errors = {k: await call_error(client, "manage_stack", stack_name="bad", action="create", template=t,
                                      parameters=p or "") for k, (t, p) in cases.items()}
        no_template = await call_error(client, "manage_stack", stack_name="bad", action="create")
        heat_says = await call_error(client, "manage_stack", stack_name="bad", action="create",
                                     template="heat_template_version: 1999-01-01\nresources: {}\n")
        bad_name = await call_error(client, "manage_stack", stack_name="1-bad name", action="create",
                                    template=TEMPLATE, parameters={"size": 1})
    assert "not valid YAML" in errors["yaml"] and "at line 4 column 1" in errors["yaml"]
    assert "not valid JSON" in errors["json"] and "line 1" in errors["json"]
    assert "must be a YAML mapping" in errors["not a mapping"]
    assert "no heat_template_version" in errors["no version"]
    assert "Resource 'a' of the template has no 'type'" in errors["no type"]
    assert "colour are not declared" in errors["undeclared"] and "size" in errors["undeclared"]
    assert "needs value(s) for parameter(s) size" in errors["missing"]
    assert "parameters must be a JSON object" in errors["bad json params"]
    assert "needs a template" in no_template
    assert "OpenStack rejected the request" in heat_says and "heat_template_version" in heat_says
    assert "OpenStack rejected the request" in bad_name
    assert fleet.sim.state.count("stacks") == before
    assert [a["outcome"] for a in fleet.audit()] == ["refused"] * 9 + ["failed", "failed"]


async def test_unconfirmed_update_and_delete_change_nothing(fleet: Fleet) -> None:
    s = next(x for x in fleet.sim.state.values("stacks") if fleet.sim.settle(x)["stack_status"].endswith("COMPLETE")
             and [y["stack_name"] for y in fleet.sim.state.values("stacks")].count(x["stack_name"]) == 1)
    before = dict(fleet.row("stacks", s["id"]))
    async with mcp_client(fleet.settings, fleet.sim) as client:
        upd = await call(client, "manage_stack", stack_name=s["stack_name"], action="update", timeout_mins=30)
        dele = await call(client, "manage_stack", stack_name=s["stack_name"], action="delete")
        other = await call_error(client, "manage_stack", stack_name=s["stack_name"], action="delete",
                                 confirmation_token=upd["confirmation_token"])
        nothing = await call_error(client, "manage_stack", stack_name=s["stack_name"], action="update")
    assert upd["status"] == "confirmation_required" and "timeout 30 min" in upd["preview"][0]
    assert dele["status"] == "confirmation_required" and s["stack_name"] in dele["preview"][0]
    assert "issued for manage_stack action 'update', not manage_stack action 'delete'" in other
    assert "needs something to change" in nothing
    assert fleet.sim.settle(s)["stack_status"] == before["status"]
    assert fleet.row("stacks", s["id"]) == before


async def test_failed_stack_is_an_error(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.simulator import heat

    real = heat._resources_done

    def fail(stack: dict[str, Any], action: str) -> None:
        real(stack, action)
        stack.update(stack_status=f"{action}_FAILED", stack_status_reason="Resource CREATE failed: quota")

    monkeypatch.setattr(heat, "_resources_done", fail)
    async with mcp_client(fleet.settings, fleet.sim) as client:
        err = await call_error(client, "manage_stack", stack_name="doomed", action="create", template=TEMPLATE,
                               parameters={"size": 1}, wait=True, timeout=20)
    assert "went to CREATE_FAILED" in err
    assert fleet.audit()[-1]["outcome"] == "failed"
