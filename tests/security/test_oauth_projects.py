"""Project-restricted callers (OPS_OAUTH_PROJECTS_CLAIM): a real server process verifying JWTs minted
here (tests/security/test_oauth.py's issuer), a simulated cloud with several projects, and a caller
restricted to one of them. Every tool the server lists is called with generated arguments (a seeded
random generator over each input schema): no answer names or identifies a row of another project, the
totals are the caller's project's counts, and tools that cannot be restricted refuse clearly."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp_types import ResourceTemplateReference
from mcp.client.streamable_http import streamable_http_client

from app.auth.projects import FILTERED
from tests import backend
from tests.security.test_oauth import READ, WRITE, oauth_server

CLAIM = "openstack_projects"
VARIANTS = 6  # generated argument sets per tool (plus the all-defaults call)
# Per-project kinds: table -> (extra condition of rows every project sees, per OpenStack's default policies)
SCOPED = {
    "servers": None, "volumes": None, "volume_snapshots": None, "ports": None, "floating_ips": None,
    "routers": None, "security_groups": None, "stacks": None, "load_balancers": None, "lb_listeners": None,
    "lb_pools": None, "lb_health_monitors": None,
    "networks": "is_shared OR is_external",
    "images": "visibility IN ('public', 'community')",
    "subnets": "network_id IN (SELECT id FROM networks WHERE deleted_at IS NULL AND (is_shared OR is_external))",
    "projects": None,
}
# Arguments whose name says what they name (instance, name_or_id of get_load_balancer): the caller's rows of that kind.
PARAM_KINDS = {"instance": "servers", "name_or_id": "load_balancers", "volume": "volumes", "network": "networks"}
# Kinds no project owns, shown with the caller's rows (an instance's user, key pair, flavor).
UNOWNED = ("users", "keypairs", "flavors")


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("oauth_projects")
    db = backend.database_url(tmp / "projects.db")  # SQLite, or PostgreSQL with OPS_TEST_DATABASE
    with oauth_server(tmp, 30, db, CLAIM, ready=True) as o:
        yield o


def _rows(db: str, sql: str) -> list[Any]:
    return backend.rows(db, sql)


def _project_ids(db: str, name: str) -> set[str]:
    return {r[0] for r in _rows(db, f"SELECT id FROM projects WHERE deleted_at IS NULL AND name = '{name}'")}


def _split(db: str, mine: set[str]) -> tuple[set[str], set[str]]:
    """(what the caller may see, what it must never see): ids and names of every per-project row."""
    allowed: set[str] = set()
    foreign: set[str] = set()
    ids = ", ".join(f"'{p}'" for p in sorted(mine))
    for table, shared in SCOPED.items():
        owner = "id" if table == "projects" else "project_id"
        name = "name" if table != "floating_ips" else "floating_ip_address"
        visible = f"{owner} IN ({ids})" + (f" OR {shared}" if shared else "")
        for rid, rname, ok in _rows(db, f"SELECT id, {name}, ({visible}) FROM {table} WHERE deleted_at IS NULL"):
            (allowed if ok else foreign).update(v for v in (rid, rname) if v)
    # The owner of a shared or external network, or of a public image, is part of what Neutron and Glance show.
    for table, shared in SCOPED.items():
        if shared and table != "subnets":
            allowed.update(p for (p,) in _rows(db, f"SELECT project_id FROM {table} WHERE deleted_at IS NULL AND "
                                                    f"({shared})") if p)
    for table in UNOWNED:  # names shared with rows no project owns (a user named like a project) are not leaks
        allowed.update(n for (n,) in _rows(db, f"SELECT name FROM {table} WHERE deleted_at IS NULL") if n)
    return allowed, foreign - allowed


def _value(rng: random.Random, name: str, schema: dict[str, Any], pool: tuple[Any, ...]) -> Any:
    branches = schema.get("anyOf") or [schema]
    branch = rng.choice([b for b in branches if b.get("type") != "null"] or branches)
    kind = branch.get("type")
    if "enum" in branch:
        return rng.choice(branch["enum"])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "integer":
        lo, hi = branch.get("minimum", 0), min(branch.get("maximum", 50), 50)
        return rng.choice([lo, hi, rng.randint(lo, hi)]) if name != "offset" else rng.choice([0, 0, 1, 3])
    if kind == "string":  # mostly the caller's own names and ids, else another project's or a generic word
        own, other, words, by_param = pool
        own = next((values for hint, values in by_param.items() if hint in name and values), own)
        roll = rng.random()
        return rng.choice(own if roll < 0.6 else other if roll < 0.9 else words)
    return None


def _variants(tool: Any, rng: random.Random, pool: tuple[Any, ...]) -> list[dict[str, Any]]:
    props = (tool.input_schema or {}).get("properties") or {}
    required = set((tool.input_schema or {}).get("required") or [])
    out = []
    for i in range(VARIANTS + 1):
        args = {}
        for name, schema in props.items():
            if name == "cloud":
                continue
            if name in required or (i > 0 and rng.random() < 0.5):
                value = _value(rng, name, schema, pool)
                if value is not None:
                    args[name] = value
        if "all_instances" in props and i == 0:
            args["all_instances"] = True
        out.append(args)
    return out


def _names(value: str, text: str) -> bool:
    """``value`` appears in ``text`` as a whole word (not "admin" inside "admin_state_up"), and not as a
    JSON key (a project named "service" and the field "service")."""
    return re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])(?!\":)", text) is not None


def _around(value: str, text: str) -> str:
    at = text.find(value)
    return text[max(at - 120, 0):at + len(value) + 60]


def _text(result: Any) -> str:
    parts = [getattr(c, "text", "") for c in result.content]
    return "\n".join(parts) + json.dumps(result.structured_content or {}, default=str)


def _total(result: Any) -> int:
    return _total_of(result.structured_content)


async def _session(restricted: dict[str, Any], token: str) -> Any:
    hc = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return hc, Client(streamable_http_client(restricted["aud"], http_client=hc))


async def test_every_tool_answers_only_for_the_callers_projects(restricted: dict[str, Any]) -> None:
    db = restricted["db"]
    mine = _project_ids(db, "web")
    assert mine, "the simulator has a project 'web'"
    allowed, foreign = _split(db, mine)
    assert foreign, "the fleet has rows of other projects to leak"
    rng = random.Random(20261130)
    # Argument pool: the caller's own names, other projects' names and ids (must find nothing), generic words.
    ids = ", ".join(f"'{p}'" for p in sorted(mine))
    by_param = {hint: sorted(v for r in _rows(db, f"SELECT id, name FROM {table} WHERE deleted_at IS NULL AND "
                                                  f"project_id IN ({ids})") for v in r if v)
                for hint, table in PARAM_KINDS.items()}
    by_param["project"] = sorted(mine) + ["web"]
    pool = (sorted(allowed), sorted(foreign), ["all", "web", "admin", "ACTIVE", "a", "10.", "compute:"], by_param)
    token = restricted["issuer"].token(audience=restricted["aud"], scope=f"{READ} {WRITE}", **{CLAIM: ["web"]})
    hc, client = await _session(restricted, token)
    answered: set[str] = set()
    async with hc, client:
        tools = (await client.list_tools()).tools
        assert len(tools) > 30
        for tool in tools:
            if tool.name in FILTERED and not (tool.annotations and tool.annotations.read_only_hint):
                continue  # writes: test_writes_keep_to_the_callers_projects
            for args in _variants(tool, rng, pool):
                result = await client.call_tool(tool.name, args)
                text = _text(result)
                if tool.name not in FILTERED:
                    assert result.is_error and "restricts its caller to projects" in text, (tool.name, text[:300])
                    continue
                if not result.is_error:
                    answered.add(tool.name)
                sent = {str(v) for v in args.values()}  # echoed arguments are not leaks
                leaked = sorted(v for v in foreign - sent if _names(v, text))
                assert not leaked, (tool.name, args, leaked[:5], [_around(v, text) for v in leaked[:5]])
    # Most filtered read tools answered at least once (a few need a name of something the caller lacks).
    reads = {t.name for t in tools if t.name in FILTERED and t.annotations and t.annotations.read_only_hint}
    assert len(answered) >= len(reads) - 4, sorted(reads - answered)


async def test_totals_are_the_callers_projects_counts(restricted: dict[str, Any]) -> None:
    db = restricted["db"]
    mine = _project_ids(db, "web")
    ids = ", ".join(f"'{p}'" for p in mine)

    def count(table: str, extra: str = "") -> int:
        return _rows(db, f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL AND (project_id IN ({ids}){extra})")[0][0]

    token = restricted["issuer"].token(audience=restricted["aud"], scope=READ, **{CLAIM: sorted(mine)})  # by id
    hc, client = await _session(restricted, token)
    async with hc, client:
        async def total(tool: str, **args: Any) -> int:
            result = await client.call_tool(tool, args)
            assert not result.is_error, result.content
            return _total(result)

        servers = count("servers")
        assert 0 < servers < _rows(db, "SELECT count(*) FROM servers WHERE deleted_at IS NULL")[0][0]
        assert await total("get_instance_details", all_instances=True) == servers
        assert await total("search_instances", search_term="a", search_in="all") <= servers
        assert await total("get_volume_list") == count("volumes")
        assert await total("get_port_list") == count("ports")
        assert await total("get_load_balancers") == count("load_balancers")
        assert await total("get_network_details", network_name="all") == count(
            "networks", " OR is_shared OR is_external")
        assert await total("get_project_list") == len(mine)


async def test_unknown_projects_see_nothing_and_unrestricted_tools_say_why(restricted: dict[str, Any]) -> None:
    token = restricted["issuer"].token(audience=restricted["aud"], scope=READ, **{CLAIM: ["no-such-project"]})
    hc, client = await _session(restricted, token)
    async with hc, client:
        listed = await client.call_tool("get_instance_details", {"all_instances": True})
        assert not listed.is_error and _total(listed) == 0
        refused = await client.call_tool("describe_snapshot", {})
        assert refused.is_error
        text = refused.content[0].text  # type: ignore[union-attr]
        assert "spans every project" in text and "use a token without that claim" in text
        hypervisors = await client.call_tool("get_hypervisor_list", {})
        assert hypervisors.is_error and "shared infrastructure" in hypervisors.content[0].text  # type: ignore[union-attr]


async def test_resource_reads_and_completions_keep_to_the_callers_projects(restricted: dict[str, Any]) -> None:
    db = restricted["db"]
    mine = _project_ids(db, "web")
    ids = ", ".join(f"'{p}'" for p in mine)
    own = _rows(db, f"SELECT id, name FROM servers WHERE deleted_at IS NULL AND project_id IN ({ids}) LIMIT 1")[0]
    other = _rows(db, f"SELECT id, name FROM servers WHERE deleted_at IS NULL AND project_id NOT IN ({ids}) LIMIT 1")[0]
    token = restricted["issuer"].token(audience=restricted["aud"], scope=READ, **{CLAIM: ["web"]})
    hc, client = await _session(restricted, token)
    async with hc, client:
        read = await client.read_resource(f"openstack://test/instances/{own[0]}")
        assert own[0] in read.contents[0].text  # type: ignore[union-attr]
        with pytest.raises(Exception, match="among your projects"):
            await client.read_resource(f"openstack://test/instances/{other[0]}")
        ref = ResourceTemplateReference(type="ref/resource", uri="openstack://{cloud}/instances/{name_or_id}")
        done = await client.complete(ref, {"name": "name_or_id", "value": ""}, {"cloud": "test"})
        values = set(done.completion.values)
        own_names = {r[0] for r in _rows(db, f"SELECT name FROM servers WHERE deleted_at IS NULL "
                                             f"AND project_id IN ({ids})")}
        assert values and values <= own_names, values - own_names
        for typed in (other[1], other[1][1:]):  # exact name, then a substring (the FTS path on SQLite)
            theirs = await client.complete(ref, {"name": "name_or_id", "value": typed}, {"cloud": "test"})
            assert other[1] not in theirs.completion.values and set(theirs.completion.values) <= own_names
        flavor_names = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="openstack://{cloud}/flavors/{name_or_id}"),
            {"name": "name_or_id", "value": ""}, {"cloud": "test"})
        public = {r[0] for r in _rows(db, "SELECT name FROM flavors WHERE deleted_at IS NULL AND is_public")}
        assert set(flavor_names.completion.values) <= public


async def test_writes_keep_to_the_callers_projects(restricted: dict[str, Any]) -> None:
    db = restricted["db"]
    mine = _project_ids(db, "web")
    ids = ", ".join(f"'{p}'" for p in mine)
    other_volume = _rows(db, f"SELECT id FROM volumes WHERE deleted_at IS NULL AND project_id NOT IN ({ids}) LIMIT 1")
    public_image = _rows(db, f"SELECT id FROM images WHERE deleted_at IS NULL AND project_id NOT IN ({ids}) "
                             "AND visibility = 'public' LIMIT 1")[0][0]
    own_volume = _rows(db, f"SELECT id FROM volumes WHERE deleted_at IS NULL AND project_id IN ({ids}) LIMIT 1")
    token = restricted["issuer"].token(audience=restricted["aud"], scope=f"{READ} {WRITE}", **{CLAIM: ["web"]})
    hc, client = await _session(restricted, token)
    async with hc, client:
        async def refused(tool: str, args: dict[str, Any], why: str) -> None:
            result = await client.call_tool(tool, args)
            assert result.is_error and why in result.content[0].text, (tool, result.content)  # type: ignore[union-attr]

        assert other_volume and own_volume  # the fleet: volumes in both projects
        # another project's volume is not even found
        await refused("manage_volume", {"action": "delete", "volume_name": other_volume[0][0]}, "No live volume")
        # a public image is seen, not owned
        await refused("manage_image", {"action": "delete", "image_name": public_image}, "not owned by one of your")
        await refused("manage_volume", {"action": "create", "volume_name": "mine", "size": 1}, "creates a resource")
        await refused("manage_keypair", {"action": "list", "keypair_name": ""}, "key pairs belong to users")
        own_server = _rows(db, f"SELECT id FROM servers WHERE deleted_at IS NULL AND project_id IN ({ids}) LIMIT 1")
        await refused("manage_instance", {"action": "live_migrate", "instance_name": own_server[0][0]},
                      "an operator's action")
        # its own volume: the preview of a delete, with a confirmation token
        preview = await client.call_tool("manage_volume", {"action": "delete", "volume_name": own_volume[0][0]})
        assert not preview.is_error, preview.content
        assert preview.structured_content["status"] == "confirmation_required"
        listed = await client.call_tool("manage_volume", {"action": "list"})
        assert not listed.is_error and _total_of(listed.structured_content["listing"]) == len(
            _rows(db, f"SELECT id FROM volumes WHERE deleted_at IS NULL AND project_id IN ({ids})"))


def _total_of(content: dict[str, Any]) -> int:
    return int(content["page"]["total"] if "page" in content else content["total"])


async def test_kept_answers_are_never_served_across_project_sets(restricted: dict[str, Any]) -> None:
    """The same question from an unrestricted caller and from callers restricted to different projects,
    interleaved: each gets its own answer (kept answers are keyed by the caller's projects)."""
    db = restricted["db"]
    everyone = _rows(db, "SELECT count(*) FROM servers WHERE deleted_at IS NULL")[0][0]
    per_project = {name: _rows(db, "SELECT count(*) FROM servers s JOIN projects p ON p.id = s.project_id AND "
                                   f"p.cloud = s.cloud WHERE s.deleted_at IS NULL AND p.name = '{name}'")[0][0]
                   for name in ("web", "admin")}
    issuer, aud = restricted["issuer"], restricted["aud"]
    tokens = {"all": issuer.token(audience=aud, scope=READ),
              "web": issuer.token(audience=aud, scope=READ, **{CLAIM: ["web"]}),
              "admin": issuer.token(audience=aud, scope=READ, **{CLAIM: "admin"})}  # one string: also a claim
    expected = {"all": everyone, **per_project}
    assert len(set(expected.values())) == 3
    for who in ("all", "web", "admin", "all", "admin", "web"):
        hc, client = await _session(restricted, tokens[who])
        async with hc, client:
            for _ in range(2):
                result = await client.call_tool("get_instance_details", {"all_instances": True, "limit": 5})
                assert not result.is_error and _total(result) == expected[who], (who, _total(result))
