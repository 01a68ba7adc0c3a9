"""Heat v1 simulator, driven only through openstacksdk."""

from __future__ import annotations

import time
from typing import Any

import pytest
from openstack import exceptions

TEMPLATE = """
heat_template_version: 2018-08-31
description: test stack
parameters:
  size: {type: number, default: 1}
resources:
  vol:
    type: OS::Cinder::Volume
    properties: {size: {get_param: size}}
  net:
    type: OS::Neutron::Net
outputs:
  vol_id:
    description: the volume
    value: {get_resource: vol}
"""


def _wait(sim: Any) -> None:
    time.sleep(sim.transition_seconds + 0.1)


def test_stack_listing(sim: Any, conn: Any) -> None:
    stored = list(sim.state.values("stacks"))
    own = list(conn.orchestration.stacks())
    assert own and all(s.id in {x["id"] for x in stored} for s in own)
    everything = conn.orchestration.get("/stacks", params={"global_tenant": "True"}).json()["stacks"]
    assert len(everything) == len(stored) and all("project" in s for s in everything)
    failed = [s for s in everything if s["stack_status"] == "CREATE_FAILED"]
    assert len(failed) == 1 and "No valid host" in failed[0]["stack_status_reason"]
    assert {s.status for s in conn.orchestration.stacks(status="COMPLETE")} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    page = conn.orchestration.get("/stacks", params={"global_tenant": "True", "limit": 1}).json()
    assert len(page["stacks"]) == 1 and page["links"][0]["rel"] == "next"


def test_stack_create_update_delete(sim: Any, conn: Any) -> None:
    stack = conn.orchestration.create_stack(name="app", template=TEMPLATE, parameters={"size": 2})
    assert stack.id
    got = conn.orchestration.get_stack(stack.id)
    assert got.status == "CREATE_IN_PROGRESS"
    _wait(sim)
    found = conn.orchestration.find_stack("app")  # by name: Heat answers with a 302 to /stacks/app/<id>
    assert found.id == stack.id and found.status == "CREATE_COMPLETE"
    assert found.parameters["size"] == "2" and found.parameters["OS::stack_name"] == "app"
    resources = {r.name: r for r in conn.orchestration.resources(found)}
    assert set(resources) == {"vol", "net"}
    assert resources["vol"].resource_type == "OS::Cinder::Volume" and resources["vol"].status == "CREATE_COMPLETE"
    outputs = {o["output_key"]: o["output_value"] for o in found.outputs}
    assert outputs["vol_id"] == resources["vol"].physical_resource_id
    with pytest.raises(exceptions.ConflictException):
        conn.orchestration.create_stack(name="app", template=TEMPLATE)
    conn.orchestration.update_stack(found, template=TEMPLATE.replace("size: {type: number, default: 1}",
                                                                     "size: {type: number, default: 3}"))
    assert conn.orchestration.get_stack(stack.id).status == "UPDATE_IN_PROGRESS"
    _wait(sim)
    updated = conn.orchestration.get_stack(stack.id)
    assert updated.status == "UPDATE_COMPLETE" and updated.updated_at
    conn.orchestration.delete_stack(updated)
    assert conn.orchestration.get_stack(stack.id).status == "DELETE_IN_PROGRESS"
    conn.orchestration.wait_for_delete(updated, interval=0.1, wait=10)
    with pytest.raises(exceptions.NotFoundException):
        conn.orchestration.get_stack(stack.id)
    assert conn.orchestration.find_stack("app") is None


def test_stack_errors(conn: Any) -> None:
    with pytest.raises(exceptions.BadRequestException):
        conn.orchestration.create_stack(name="bad", template="heat_template_version: 1999-01-01\nresources: {}\n")
    with pytest.raises(exceptions.BadRequestException):
        conn.orchestration.create_stack(name="bad", template={"heat_template_version": "2018-08-31",
                                                              "resources": {"x": {"properties": {}}}})
    with pytest.raises(exceptions.BadRequestException):
        conn.orchestration.create_stack(name="bad", template=": : not yaml [")
    with pytest.raises(exceptions.NotFoundException):
        conn.orchestration.get_stack("no-such-stack")
    resp = conn.orchestration.get("/stacks/nope/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404 and resp.json()["error"]["message"]
