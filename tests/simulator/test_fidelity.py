"""Fidelity: the simulator answers like the real upstream services (same keys and value types).

Every file in ``tests/fixtures/real/`` is a response recorded from the real Keystone, Nova, Neutron,
Cinder, Glance and Heat by ``tests/fixtures/record_real.py``. For each one, :func:`test_fidelity`
issues the *same* request (method, path relative to the service endpoint from the catalog,
microversion, body) to the simulator through openstacksdk's service adapters and compares:

* the status code (must be equal);
* the headers the real response carried among :data:`CHECKED_HEADERS` (must be present; the
  ``OpenStack-API-Version`` value and the content type's media type must be equal);
* the body's shape, with :func:`shape_diff` (same keys and value types, recursively); a top-level
  list that is non-empty in the real body must be non-empty in the simulator's too (an empty list
  would match any element shape).

Ids differ between the clouds, so request paths/bodies use ``{placeholders}`` resolved against
the simulator by :data:`RESOLVERS` (an ACTIVE server, a network with ports, ...).

There is deliberately no skip and no xfail here: a request the simulator does not serve yet is a
failure, so the list of failures is the fidelity to-do list. The module needs only the recorded
fixtures and the simulator (no real cloud), so it runs in CI.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from keystoneauth1.adapter import Adapter as KsaAdapter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "real"

# ------------------------------------------------------------------------------------------------
# shape_diff

#: Dicts whose keys are data, not schema (server addresses by network name, metadata, extra specs,
#: AZ hosts by host name then service name, Heat parameters, ...): their values are compared
#: against the merged shape of all real values, and key names are not compared. Matched against
#: the normalised path (see :func:`shape_diff`) of the dict itself.
MAP_KEYS = (
    "addresses", "metadata", "extra_specs", "properties", "volume_image_metadata", "hosts",
    "scheduler_hints", "parameters", "resource_versions", "options", "capabilities", "qos_specs",
    "resource_counters",
)
#: Dicts whose contents are driver- or deployment-specific (hypervisor ``cpu_info`` differs between
#: libvirt and the fake driver, port binding details between ML2 drivers): only the fact that the
#: value is an object is compared, not its contents.
FREEFORM_KEYS = ("cpu_info", "binding:profile", "binding:vif_details", "configurations")
_FREEFORM_RE = re.compile(r"(^|\.)(" + "|".join(re.escape(k) for k in FREEFORM_KEYS) + r")$")
_MAP_RE = re.compile(r"(^|\.)(" + "|".join(re.escape(k) for k in MAP_KEYS) + r")(\{\})*$")

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
               type(None): "null"}


def _tname(v: Any) -> str:
    return _TYPE_NAMES.get(type(v), type(v).__name__)


class _Shape:
    """The merged shape of one or more real values: the JSON types seen; for objects the keys seen
    (and which were in every object); for arrays the merged shape of all items; for maps the
    merged shape of all values."""

    __slots__ = ("types", "keys", "required", "items", "values", "n_objects", "freeform")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.keys: dict[str, _Shape] = {}
        self.required: set[str] | None = None
        self.items: _Shape | None = None
        self.values: _Shape | None = None
        self.n_objects = 0
        self.freeform = False

    def add(self, value: Any, path: str) -> _Shape:
        """Merge one more real value of the same place into this shape."""
        t = _tname(value)
        self.types.add(t)
        if t == "object" and _FREEFORM_RE.search(path):
            self.freeform = True
        elif t == "object":
            if _MAP_RE.search(path):
                self.values = self.values or _Shape()
                for v in value.values():
                    self.values.add(v, path + "{}")
            else:
                self.n_objects += 1
                ks = set(value)
                self.required = ks if self.required is None else self.required & ks
                for k, v in value.items():
                    self.keys.setdefault(k, _Shape()).add(v, _join(path, k))
        elif t == "array":
            self.items = self.items or _Shape()
            for v in value:
                self.items.add(v, path + "[]")
        return self

    def widen(self, other: _Shape) -> _Shape:
        """Widen with the shape of supplementary samples: their types and keys are accepted too, and
        a key they show only sometimes becomes optional; a key they never show keeps its status."""
        self.types |= other.types
        self.freeform |= other.freeform
        if other.n_objects:
            sometimes = set(other.keys) - (other.required or set())
            self.required = set() if self.required is None else self.required - sometimes
            self.n_objects += other.n_objects
            for k, sub in other.keys.items():
                self.keys[k] = self.keys[k].widen(sub) if k in self.keys else sub
        if other.items is not None:
            self.items = self.items.widen(other.items) if self.items is not None else other.items
        if other.values is not None:
            self.values = self.values.widen(other.values) if self.values is not None else other.values
        return self


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def shape_diff(real: Any, sim: Any, *, also: list[Any] | tuple[Any, ...] = (),
               open_objects: dict[str, set[str]] | None = None,
               optional: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Human-readable differences between the *shapes* of a real and a simulated JSON body.

    Values may differ; keys and JSON types may not. Rules:

    * Paths are dotted keys; ``[]`` stands for "any element of this list" and ``{}`` for "any value
      of this map" (e.g. ``servers[].addresses{}[].addr``). Each difference is reported once per
      path, sorted.
    * Objects: a key the real object has but the simulator's lacks is ``missing in simulator``; a
      key only the simulator has is ``not in real response``. In lists the real elements are merged
      first: a key present in only some real elements is optional (may be absent in the
      simulator's). Dicts whose keys are data (:data:`MAP_KEYS`, e.g. ``addresses``, ``metadata``,
      ``extra_specs``) are compared by value shape only.
    * Lists: every simulator element is compared with the merged shape of all real elements. An
      empty real list accepts any list; an empty simulator list is accepted.
    * Types: ``boolean``, ``integer``, ``number`` (float), ``string``, ``null``, ``object``,
      ``array`` are distinct (``true`` is not an integer, ``1`` is not ``1.0``).
    * ``null``: where the real value is ``null`` (and never anything else) any simulator value is
      accepted, since the real type is unknown. A simulator ``null`` is accepted where the real
      value is a string (nullable strings: descriptions, timestamps, ids). Other null mismatches
      (e.g. real object, simulator null) are differences.
    * ``open_objects`` maps a normalised path to the set of *core* keys of an object that also
      carries free-form keys (Glance image properties): there only core keys are required, and
      simulator keys the real object lacks are accepted.
    * Free-form dicts (:data:`FREEFORM_KEYS`, e.g. ``cpu_info``, ``binding:vif_details``): only the
      type (object) is compared.
    * ``also``: further real samples of the same body (e.g. ``{"server": s}`` for each server of the
      recorded ``servers/detail``, or the full list for a paginated fixture). They widen the accepted
      shape: their types and keys are accepted, and a key they carry only *sometimes* (an ERROR
      server's ``fault``) becomes optional; a key they never carry (a paginated page's
      ``servers_links``, a server show's ``server_groups``) stays required.
    * ``optional``: normalised paths of keys the simulator may add although the real response lacks
      them (:data:`EXTENSION_KEYS`: fields of Neutron extensions our real deployment does not load).
    * A body that is not JSON (an HTML error page) is compared as a string.
    """
    shape = _Shape().add(real, "")
    if also:
        extra = _Shape()
        for sample in also:
            extra.add(sample, "")
        shape.widen(extra)
    out: set[str] = set()
    _check(shape, sim, "", out, open_objects or {}, optional)
    return sorted(out)


def _check(shape: _Shape, sim: Any, path: str, out: set[str], open_objects: dict[str, set[str]],
           optional: set[str] | frozenset[str] = frozenset()) -> None:
    t = _tname(sim)
    where = path or "<body>"
    if shape.types == {"null"}:
        return
    if shape.freeform and t == "object":
        return
    if t not in shape.types:
        if t == "null" and "string" in shape.types:
            return
        real_t = "|".join(sorted(shape.types))
        out.add(f"{where}: type real={real_t} sim={t}")
        return
    if t == "object":
        if shape.values is not None and shape.n_objects == 0:  # a map
            if not shape.values.types:  # only empty real maps: nothing to compare values with
                return
            for v in sim.values():
                _check(shape.values, v, path + "{}", out, open_objects, optional)
            return
        core = open_objects.get(path)
        required = shape.required or set()
        for k in sorted(required - set(sim)):
            if core is None or k in core:
                out.add(f"{_join(path, k)}: missing in simulator")
        for k, v in sim.items():
            sub = shape.keys.get(k)
            if sub is None:
                if core is None and _join(path, k) not in optional:
                    out.add(f"{_join(path, k)}: not in real response")
                continue
            _check(sub, v, _join(path, k), out, open_objects, optional)
    elif t == "array":
        if shape.items is None or not shape.items.types:
            return
        for v in sim:
            _check(shape.items, v, path + "[]", out, open_objects, optional)


# ------------------------------------------------------------------------------------------------
# Unit tests of shape_diff


def test_shape_diff_equal_shapes_differing_values() -> None:
    assert shape_diff({"a": 1, "b": "x", "c": [{"d": True}]}, {"a": 2, "b": "y", "c": [{"d": False}, {"d": True}]}) == []


def test_shape_diff_missing_extra_and_type() -> None:
    real = {"server": {"id": "x", "status": "ACTIVE", "progress": 0, "locked": False}}
    sim = {"server": {"id": "y", "status": 3, "locked": 0, "extra": 1}}
    assert shape_diff(real, sim) == [
        "server.extra: not in real response",
        "server.locked: type real=boolean sim=integer",
        "server.progress: missing in simulator",
        "server.status: type real=string sim=integer",
    ]


def test_shape_diff_lists_merge_real_elements() -> None:
    real = {"servers": [{"id": "a", "fault": {"code": 500}}, {"id": "b"}]}
    assert shape_diff(real, {"servers": [{"id": "c"}, {"id": "d", "fault": {"code": 1}}]}) == []
    assert shape_diff(real, {"servers": [{"id": "c", "fault": "boom"}]}) == [
        "servers[].fault: type real=object sim=string"]
    assert shape_diff(real, {"servers": []}) == []
    assert shape_diff({"servers": []}, {"servers": [{"anything": 1}]}) == []
    assert shape_diff(real, {"servers": {}}) == ["servers: type real=array sim=object"]
    assert shape_diff(real, {}) == ["servers: missing in simulator"]


def test_shape_diff_null_rules() -> None:
    assert shape_diff({"a": None}, {"a": {"x": 1}}) == []       # real null: type unknown
    assert shape_diff({"a": "s"}, {"a": None}) == []            # nullable string
    assert shape_diff({"a": {"x": 1}}, {"a": None}) == ["a: type real=object sim=null"]
    assert shape_diff({"a": 1}, {"a": None}) == ["a: type real=integer sim=null"]
    assert shape_diff({"l": [{"a": None}, {"a": 1}]}, {"l": [{"a": None}, {"a": 2}]}) == []
    assert shape_diff({"l": [{"a": None}, {"a": 1}]}, {"l": [{"a": "s"}]}) == ["l[].a: type real=integer|null sim=string"]


def test_shape_diff_maps_and_numbers() -> None:
    real = {"server": {"addresses": {"net1": [{"addr": "10.0.0.1", "version": 4}]}, "metadata": {"k": "v"}}}
    sim = {"server": {"addresses": {"other": [{"addr": "10.0.0.2", "version": 4}], "x": []}, "metadata": {}}}
    assert shape_diff(real, sim) == []
    sim["server"]["addresses"]["x"] = [{"addr": "a", "version": "4"}]
    assert shape_diff(real, sim) == ["server.addresses{}[].version: type real=integer sim=string"]
    assert shape_diff({"r": 16.0}, {"r": 16}) == ["r: type real=number sim=integer"]
    assert shape_diff("<html>404</html>", {"code": 404}) == ["<body>: type real=string sim=object"]


def test_shape_diff_open_objects() -> None:
    real = {"images": [{"id": "a", "name": "n", "os_distro": "cirros"}]}
    open_ = {"images[]": {"id", "name"}}
    assert shape_diff(real, {"images": [{"id": "b", "name": "m", "hw_disk_bus": "virtio"}]}, open_objects=open_) == []
    assert shape_diff(real, {"images": [{"id": "b"}]}, open_objects=open_) == ["images[].name: missing in simulator"]


def test_shape_diff_also_widens_without_relaxing() -> None:
    real = {"servers": [{"id": "a", "image": {"id": "i"}}], "servers_links": [{"rel": "next", "href": "h"}]}
    full = {"servers": [{"id": "b", "image": ""}, {"id": "c", "image": {"id": "j"}, "fault": {"code": 500}}]}
    sim = {"servers": [{"id": "x", "image": "", "fault": {"code": 1}}], "servers_links": []}
    assert shape_diff(real, sim, also=[full]) == []
    assert shape_diff(real, sim) == ["servers[].fault: not in real response", "servers[].image: type real=object sim=string"]
    assert shape_diff(real, {"servers": []}, also=[full]) == ["servers_links: missing in simulator"]
    page = {"servers": [{"id": "a", "fault": {"code": 500}}]}  # a page that happened to show an ERROR server
    assert shape_diff(page, {"servers": [{"id": "x"}]}) == ["servers[].fault: missing in simulator"]
    assert shape_diff(page, {"servers": [{"id": "x"}]}, also=[full]) == []
    one = {"server": {"id": "a", "progress": 0, "fault": {"code": 500}}}
    items = [{"server": {"id": "b"}}, {"server": {"id": "c", "fault": {"code": 1}}}]
    assert shape_diff(one, {"server": {"id": "x"}}, also=items) == ["server.progress: missing in simulator"]


def test_shape_diff_freeform_and_optional() -> None:
    real = {"hypervisors": [{"cpu_info": {"arch": "x86_64"}}], "port": {"id": "p"}}
    sim = {"hypervisors": [{"cpu_info": {"topology": {"cells": 1}}}], "port": {"id": "q", "dns_name": ""}}
    assert shape_diff(real, sim, optional={"port.dns_name"}) == []
    assert shape_diff(real, sim) == ["port.dns_name: not in real response"]
    assert shape_diff(real, {"hypervisors": [{"cpu_info": "{}"}], "port": {"id": "q"}}) == [
        "hypervisors[].cpu_info: type real=object sim=string"]


# ------------------------------------------------------------------------------------------------
# Issuing the recorded requests to the simulator

#: Glance image keys that are schema, not free-form properties (other real keys, such as
#: ``os_distro`` or ``owner_specified.openstack.*``, are properties and may be absent).
GLANCE_IMAGE_CORE = {
    "id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value", "owner",
    "size", "virtual_size", "min_ram", "min_disk", "created_at", "updated_at", "tags", "self", "file", "schema",
    "disk_format", "container_format", "os_hidden",
}
OPEN_OBJECTS = {
    "image_images": {"images[]": GLANCE_IMAGE_CORE},
    "image_images_paginated": {"images[]": GLANCE_IMAGE_CORE},
    "image_image_get": {"": GLANCE_IMAGE_CORE},
}

#: Fields of Neutron API extensions that the real deployment here does not load (ML2 + router plugin
#: only: no dns-integration, qos, port_forwarding, l2_adjacency, auto-allocated-topology,
#: ip_allocation, port-resource-request, uplink-status-propagation, standard-attr-tag on rules,
#: subnet segments, l3-ndp-proxy, subnet-dns-publish-fixed-ip). Real clouds with those extensions
#: return them, so the simulator may too; consumers must not rely on them.
_NEUTRON_EXT = {
    "floatingips[]": ("dns_domain", "dns_name", "port_forwardings", "qos_network_policy_id", "qos_policy_id"),
    "networks[]": ("dns_domain", "is_default", "l2_adjacency", "qos_policy_id"),
    "ports[]": ("dns_assignment", "dns_name", "dns_domain", "ip_allocation", "propagate_uplink_status",
                "qos_network_policy_id", "qos_policy_id", "resource_request", "numa_affinity_policy"),
    "routers[]": ("enable_ndp_proxy", "enable_default_route_bfd", "enable_default_route_ecmp"),
    "security_group_rules[]": ("tags",),
    "subnets[]": ("dns_publish_fixed_ip", "segment_id"),
}
EXTENSION_KEYS: frozenset[str] = frozenset(
    f"{coll}.{k}" for coll, keys in _NEUTRON_EXT.items() for k in keys
) | frozenset(
    f"{coll.removesuffix('s[]').removesuffix('[]')}.{k}" for coll, keys in _NEUTRON_EXT.items() for k in keys
)

#: Supplementary real samples per fixture (see ``shape_diff(also=...)``): a paginated page or a
#: single resource is also compared with the items of the recorded full list, so that variants the
#: page or the one resource happened not to show (an ERROR server's ``fault``, a volume-backed
#: server's ``image: ""``, a queued image's ``size: null``) are accepted.
ALSO: dict[str, tuple[str, str, str | None]] = {
    # kind: (other fixture, its list key, wrap each item under this key; None: use the whole body)
    "compute_servers_detail_paginated": ("compute_servers_detail", "servers", None),
    "compute_server_get": ("compute_servers_detail", "servers", "server"),
    "compute_server_get_v2_1": ("compute_servers_detail_v2_1", "servers", "server"),
    "network_networks_paginated": ("network_networks", "networks", None),
    "network_network_get": ("network_networks", "networks", "network"),
    "volume_volumes_detail_paginated": ("volume_volumes_detail", "volumes", None),
    "volume_volume_get": ("volume_volumes_detail", "volumes", "volume"),
    "image_images_paginated": ("image_images", "images", None),
    "image_image_get": ("image_images", "images", ""),
    "orchestration_stack_get": ("orchestration_stacks", "stacks", "stack"),
}


def also_samples(kind: str) -> list[Any]:
    if kind not in ALSO:
        return []
    other, key, wrap = ALSO[kind]
    body = json.loads((FIXTURES / f"{other}.json").read_text())["body"]
    if wrap is None:
        return [body]
    return [item if wrap == "" else {wrap: item} for item in body[key]]


#: Keys named after data (Cinder's per-volume-type quotas ``volumes_<type>``: the real cloud has only
#: ``__DEFAULT__``, the simulator its own types): an extra one is not a difference; their values are
#: still compared where the names match.
PER_NAME_KEYS: dict[str, re.Pattern[str]] = {
    "volume_quota_usage": re.compile(r"^quota_set\.(volumes|gigabytes|snapshots)_[^.:]+: not in real response$"),
}


#: Headers compared when the real response carried them (presence; see module docstring for values).
CHECKED_HEADERS = ("openstack-api-version", "x-openstack-nova-api-version", "x-openstack-request-id",
                   "x-subject-token", "location", "www-authenticate", "content-type")

NOVA_LIST = "2.100"


def _adapter(conn: Any, service: str) -> Any:
    return {"compute": conn.compute, "network": conn.network, "volume": conn.block_storage, "image": conn.image,
            "orchestration": conn.orchestration, "identity": conn.identity}[service]


def _get(conn: Any, service: str, path: str, mv: str | None = None) -> Any:
    r = _adapter(conn, service).get(path, microversion=mv, raise_exc=False)
    assert r.status_code == 200, f"resolving placeholder: GET {service} {path} -> {r.status_code} {r.text[:200]}"
    return r.json()


def _first(items: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    for it in items:
        if pred(it):
            return it
    raise AssertionError(f"the simulator has no {what} to replay this request against")


def _servers(conn: Any) -> list[dict[str, Any]]:
    return _get(conn, "compute", "/servers/detail?all_tenants=1", NOVA_LIST)["servers"]


def _stack(conn: Any) -> dict[str, Any]:
    stacks = _get(conn, "orchestration", "/stacks")["stacks"]
    return _first(stacks, lambda s: s.get("stack_status") == "CREATE_COMPLETE", "CREATE_COMPLETE stack")


def _ports(conn: Any) -> list[dict[str, Any]]:
    return _get(conn, "network", "/ports")["ports"]


#: Placeholder -> how to find a matching object in the simulator (the real ids mean nothing there).
RESOLVERS: dict[str, Callable[[Any, Any], str]] = {
    "server_active": lambda conn, sim: _first(_servers(conn), lambda s: s["status"] == "ACTIVE", "ACTIVE server")["id"],
    "server_with_volume": lambda conn, sim: _first(
        _servers(conn), lambda s: bool(s.get("os-extended-volumes:volumes_attached")), "server with a volume")["id"],
    "flavor_with_extra_specs": lambda conn, sim: _first(
        _get(conn, "compute", "/flavors/detail", NOVA_LIST)["flavors"], lambda f: bool(f.get("extra_specs")),
        "flavor with extra specs")["id"],
    "flavor_id": lambda conn, sim: _get(conn, "compute", "/flavors/detail", NOVA_LIST)["flavors"][0]["id"],
    "network_id": lambda conn, sim: _first(
        _get(conn, "network", "/networks")["networks"], lambda n: not n.get("router:external"), "tenant network")["id"],
    "network_in_use": lambda conn, sim: _first(
        _ports(conn), lambda p: str(p.get("device_owner", "")).startswith("compute:"), "port of a server")["network_id"],
    "volume_id": lambda conn, sim: _first(
        _get(conn, "volume", "/volumes/detail?all_tenants=1", "3.71")["volumes"], lambda v: v["status"] == "in-use",
        "in-use volume")["id"],
    "image_id": lambda conn, sim: _first(
        _get(conn, "image", "/images")["images"], lambda i: i.get("status") == "active", "active image")["id"],
    "stack_name": lambda conn, sim: _stack(conn)["stack_name"],
    "stack_id": lambda conn, sim: _stack(conn)["id"],
    "random_uuid": lambda conn, sim: "0b5e4d6a-0000-4000-8000-000000000000",
    "random_name": lambda conn, sim: "fid-no-such-stack",
    "unique_name": lambda conn, sim: f"fid-{uuid.uuid4().hex[:8]}",
    "username": lambda conn, sim: sim.username,
    "password": lambda conn, sim: sim.password,
    "project_name": lambda conn, sim: sim.project_name,
    "own_project": lambda conn, sim: conn.current_project_id,
    "server_active_action": lambda conn, sim: _get(
        conn, "compute", f"/servers/{RESOLVERS['server_active'](conn, sim)}/os-instance-actions",
        NOVA_LIST)["instanceActions"][0]["request_id"],
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class _Resolver:
    def __init__(self, conn: Any, sim: Any) -> None:
        self.conn, self.sim, self.cache = conn, sim, {}

    def text(self, s: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in RESOLVERS:
                return m.group(0)
            if name not in self.cache:
                self.cache[name] = RESOLVERS[name](self.conn, self.sim)
            return self.cache[name]

        return _PLACEHOLDER.sub(sub, s)

    def body(self, b: Any) -> Any:
        if isinstance(b, dict):
            return {k: self.body(v) for k, v in b.items()}
        if isinstance(b, list):
            return [self.body(v) for v in b]
        if isinstance(b, str):
            if b == "<password>":
                return self.sim.password
            return self.text(b)
        return b


def service_root(endpoint: str, keep_v3: bool = False) -> str:
    """``http://h/volume/v3/<project>`` -> ``http://h/volume/`` (``.../v3/`` with ``keep_v3``)."""
    root = re.sub(r"/v\d+(\.\d+)?(/[0-9a-f]{32})?/?$", "/", endpoint.rstrip("/") + "/")
    return root + "v3/" if keep_v3 else root


def replay(conn: Any, sim: Any, req: dict[str, Any]) -> Any:
    """Issue a recorded request to the simulator; returns the keystoneauth response."""
    res = _Resolver(conn, sim)
    ad = _adapter(conn, req["service"])
    path = res.text(req["path_template"])
    url = path
    if req["base"].startswith("root"):
        url = service_root(KsaAdapter.get_endpoint(ad), keep_v3=req["base"] == "root_v3") + path.lstrip("/")
    kwargs: dict[str, Any] = {"raise_exc": False}
    if req.get("microversion"):
        kwargs["microversion"] = req["microversion"]
    if req.get("body") is not None:
        kwargs["json"] = res.body(req["body"])
    if req.get("authenticated") is False:  # the 401 fixtures: no X-Auth-Token
        kwargs["authenticated"] = False
    return ad.request(url, req["method"], **kwargs)


def compare(fixture: dict[str, Any], resp: Any, kind: str) -> list[str]:
    """Every difference between a recorded real response and the simulator's response."""
    diffs: list[str] = []
    if resp.status_code != fixture["status"]:
        diffs.append(f"status: real={fixture['status']} sim={resp.status_code}")
    sim_headers = {k.lower(): v for k, v in resp.headers.items()}
    for h in CHECKED_HEADERS:
        if h not in fixture["headers"]:
            continue
        if h not in sim_headers:
            diffs.append(f"header {h}: missing in simulator")
        elif h == "openstack-api-version" and fixture["request"].get("microversion") and (
                sim_headers[h].lower() != fixture["headers"][h].lower()):
            diffs.append(f"header {h}: real={fixture['headers'][h]!r} sim={sim_headers[h]!r}")
        elif h == "content-type":
            media = fixture["headers"][h].split(";")[0].strip().lower()
            if sim_headers[h].split(";")[0].strip().lower() != media:
                diffs.append(f"header {h}: real={fixture['headers'][h]!r} sim={sim_headers[h]!r}")
    try:
        sim_body = resp.json() if resp.content else None
    except ValueError:
        sim_body = resp.text
    if isinstance(fixture["body"], dict) and isinstance(sim_body, dict):
        # an empty list would pass any shape check: top-level collections must show elements
        for k, v in fixture["body"].items():
            if isinstance(v, list) and v and isinstance(sim_body.get(k), list) and not sim_body[k]:
                diffs.append(f"{k}: empty in simulator (element shape not compared)")
    shape = shape_diff(fixture["body"], sim_body, also=also_samples(kind), open_objects=OPEN_OBJECTS.get(kind),
                       optional=EXTENSION_KEYS)
    named = PER_NAME_KEYS.get(kind)
    diffs += [d for d in shape if not (named and named.match(d))]
    return diffs


def _delete_a_server(conn: Any, sim: Any) -> None:
    """So that a changes-since listing has a deleted server to show, as the real one did."""
    import time

    sid = RESOLVERS["server_active"](conn, sim)
    conn.compute.delete(f"/servers/{sid}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if conn.compute.get(f"/servers/{sid}", raise_exc=False).status_code == 404:
            return
        time.sleep(0.1)
    raise AssertionError(f"deleted server {sid} still visible after 10 s")


#: Steps run against the simulator before replaying a fixture, and statuses its top-level list must
#: then show (the recorded real list showed them: a changes-since listing includes DELETED servers).
PREPARE: dict[str, Callable[[Any, Any], None]] = {"compute_servers_detail_changes_since": _delete_a_server}
EXPECT_STATUSES: dict[str, tuple[str, str]] = {"compute_servers_detail_changes_since": ("servers", "DELETED")}

FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_fixtures_recorded() -> None:
    """Guard: the parametrisation below must not silently become empty."""
    assert len(FIXTURE_FILES) >= 40, f"expected the recorded fixtures in {FIXTURES}"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_fidelity(path: Path, conn: Any, sim: Any) -> None:
    fixture = json.loads(path.read_text())
    req = fixture["request"]
    if path.stem in PREPARE:
        PREPARE[path.stem](conn, sim)
    resp = replay(conn, sim, req)
    diffs = compare(fixture, resp, path.stem)
    if path.stem in EXPECT_STATUSES and resp.status_code == 200:
        key, status = EXPECT_STATUSES[path.stem]
        if not any(item.get("status") == status for item in resp.json().get(key, [])):
            diffs.append(f"{key}: no item with status {status} (the real response had one)")
    assert not diffs, (
        f"{path.stem}: {req['method']} {req['service']} {req['path_template']} (microversion {req.get('microversion')})"
        f" differs from the real service:\n  " + "\n  ".join(diffs)
    )


#: Nova's hypervisor view changes at 2.28 (cpu_info object), 2.53 (UUID ids) and 2.88 (capacity fields
#: and statistics removed, uptime added); between those it is stable, so a release whose newest
#: microversion is below 2.88 must answer like the 2.87 recording, and one at 2.88+ like the latest.
@pytest.mark.parametrize("release", ["train", "wallaby", "yoga", "epoxy"])
def test_fidelity_hypervisors_at_release_max(release: str, make_sim: Callable[..., Any]) -> None:
    import openstack

    from app.simulator.releases import fmt, get_release

    rel = get_release(release)
    sim = make_sim(release=release)
    conn = openstack.connect(**sim.connect_kwargs())
    try:
        mv = fmt(rel.compute_max)
        kind = "compute_hypervisors_detail_v2_87" if rel.compute_max < (2, 88) else "compute_hypervisors_detail"
        fixture = json.loads((FIXTURES / f"{kind}.json").read_text())
        fixture["request"]["microversion"] = mv
        fixture["headers"]["openstack-api-version"] = f"compute {mv}"
        resp = replay(conn, sim, fixture["request"])
        diffs = compare(fixture, resp, kind)
        stats = conn.compute.get("/os-hypervisors/statistics", microversion=mv, raise_exc=False)
        want = 200 if rel.compute_max < (2, 88) else 404
        if stats.status_code != want:
            diffs.append(f"/os-hypervisors/statistics at {mv}: status {stats.status_code}, real Nova answers {want}")
    finally:
        conn.close()
    assert not diffs, f"{release} (compute max {mv}) hypervisors vs {kind}:\n  " + "\n  ".join(diffs)
