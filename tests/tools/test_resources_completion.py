"""MCP resource templates and completion/complete through the SDK's in-process client (issue 13,
item 4): stored objects by name or ID, and ranked, capped completions from the snapshot."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp_types import PromptReference, ResourceTemplateReference

from app.services.budget import DEFAULT_BUDGET
from app.services.completion import CAP
from tests import backend
from tests.tools.conftest import mcp_client


def _names(url: str, table: str) -> list[tuple[str, str]]:
    return [(r.id, r.name) for r in backend.rows(
        url, f"SELECT id, name FROM {table} WHERE cloud='test' AND deleted_at IS NULL ORDER BY name")]  # noqa: S608


async def test_resource_templates_return_stored_objects(synced: Any) -> None:
    url = synced.settings.database_url
    servers = _names(url, "servers")
    counts: dict[str, int] = {}
    for _, n in servers:
        counts[n] = counts.get(n, 0) + 1
    sid, sname = next((i, n) for i, n in servers if counts[n] == 1)
    async with mcp_client(synced.settings, synced.sim) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        for seg in ("instances", "volumes", "networks", "projects", "stacks"):
            assert f"openstack://{{cloud}}/{seg}/{{name_or_id}}" in templates

        for key in (sid, sname):
            got = await client.read_resource(f"openstack://test/instances/{key}")
            body = json.loads(got.contents[0].text)
            assert body["id"] == sid and body["name"] == sname and body["live"]
            raw = json.loads(backend.rows(url, "SELECT raw FROM servers WHERE cloud='test' AND id=:i", i=sid)[0].raw)
            assert body["raw"] == raw and "adminPass" not in json.dumps(body)
            assert len(got.contents[0].text) < DEFAULT_BUDGET

        vid, _ = _names(url, "volumes")[0]
        vol = json.loads((await client.read_resource(f"openstack://test/volumes/{vid}")).contents[0].text)
        assert vol["kind"] == "volumes" and vol["id"] == vid

        with pytest.raises(Exception) as err:
            await client.read_resource("openstack://test/instances/no-such-vm")
        assert "No servers with ID or name" in str(err.value)
        with pytest.raises(Exception) as err:
            await client.read_resource(f"openstack://othercloud/instances/{sid}")
        assert "this server serves test" in str(err.value)


async def test_completions_ranked_and_capped(synced: Any) -> None:
    url = synced.settings.database_url
    names = sorted({n for _, n in _names(url, "servers") if n})
    some = names[len(names) // 2]
    prefix = some[:3]
    async with mcp_client(synced.settings, synced.sim) as client:
        ref = PromptReference(type="ref/prompt", name="investigate_instance")
        got = (await client.complete(ref, {"name": "instance", "value": some})).completion
        assert got.values[0] == some  # the exact name first

        got = (await client.complete(ref, {"name": "instance", "value": prefix})).completion
        starting = sorted((n for n in names if n.startswith(prefix)), key=lambda n: (len(n), n))
        assert len(got.values) <= CAP and got.values[:len(starting[:CAP])] == starting[:CAP]  # prefix, shortest first
        if len(starting) > CAP:
            assert got.has_more

        everything = (await client.complete(ref, {"name": "instance", "value": ""})).completion
        assert len(everything.values) == CAP and everything.has_more

        # substring after prefix: a middle part of a name, in another case
        middle = some[2:6].upper()
        sub = (await client.complete(ref, {"name": "instance", "value": middle})).completion
        assert sub.values and all(middle.lower() in v.lower() for v in sub.values)

        # resource template parameters: the cloud label and names (or IDs) of that kind
        tref = ResourceTemplateReference(type="ref/resource", uri="openstack://{cloud}/volumes/{name_or_id}")
        assert (await client.complete(tref, {"name": "cloud", "value": "te"})).completion.values == ["test"]
        vols = _names(url, "volumes")
        vid = vols[0][0]
        by_id = (await client.complete(tref, {"name": "name_or_id", "value": vid[:8]})).completion
        assert vid in by_id.values
        net_ref = ResourceTemplateReference(type="ref/resource", uri="openstack://{cloud}/networks/{name_or_id}")
        nets = {n for _, n in _names(url, "networks") if n}
        got_nets = (await client.complete(net_ref, {"name": "name_or_id", "value": ""})).completion
        assert set(got_nets.values) <= nets and got_nets.values

        nothing = (await client.complete(ref, {"name": "instance", "value": "zzzz-no-such"})).completion
        assert nothing.values == []
        for wildcard in ("%", "_", "%%%", "\\"):  # LIKE's metacharacters match only themselves
            literal = (await client.complete(ref, {"name": "instance", "value": wildcard})).completion
            assert all(wildcard in v for v in literal.values), (wildcard, literal.values)
