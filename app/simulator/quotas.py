"""Quotas with usage, the three upstream ways:

* Nova ``GET /os-quota-sets/{project_id}/detail``: ``{"quota_set": {"id", <resource>: {"limit", "in_use",
  "reserved"}}}``; the resources follow the microversion (2.36 drops the proxied network ones, 2.57 the
  injected files);
* Neutron ``GET /v2.0/quotas/{project_id}/details``: ``{"quota": {<resource>: {"limit", "used",
  "reserved"}}}``;
* Cinder ``GET /os-quota-sets/{project_id}?usage=True``: ``{"quota_set": {"id", <resource>: {"limit",
  "in_use", "reserved"}}}``, per volume type too (``volumes_<type>`` ...).

Usage is counted from the simulator's state (servers and their flavors, Neutron objects, volumes and
snapshots per project). Limits are the upstream defaults unless a project's usage needs more: then a
deterministic per-project limit puts it between 30 % and 97 % used (a few projects sit close to a
limit, as real clouds do). The ``admin`` project is unlimited (-1) for instances, cores and RAM. A
limit, once computed, stays (usage may grow towards it). ``sim.quota_limits`` holds them:
``{(service, project_id): {resource: limit}}``; tests may set entries directly.

Other projects' quotas need the admin role (Nova/Cinder/Neutron policy); one's own project does not.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, json_body

NOVA_DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "metadata_items": 128,
                 "server_groups": 10, "server_group_members": 10}
# proxied to Neutron before 2.36: Nova reports them unlimited (-1) when Neutron is the network service
NOVA_BEFORE_2_36 = {"fixed_ips": -1, "floating_ips": -1, "security_group_rules": -1, "security_groups": -1}
NOVA_BEFORE_2_57 = {"injected_file_content_bytes": 10240, "injected_file_path_bytes": 255, "injected_files": 5}
NEUTRON_DEFAULTS = {"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router_route": 30, "router": 10,
                    "floatingip": 50, "rbac_policy": 10, "security_group": 10, "security_group_rule": 100}
CINDER_DEFAULTS = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10, "backup_gigabytes": 1000,
                   "per_volume_gigabytes": -1, "groups": 10}
UNLIMITED_IN_ADMIN = {"instances", "cores", "ram"}


def _fraction(project_id: str, resource: str) -> float:
    """A stable 0.30..0.97 utilisation for a project's resource (seeded by the ids, not the RNG, so
    limits do not depend on the order projects are first asked about)."""
    h = hashlib.sha256(f"{project_id}:{resource}".encode()).digest()
    return 0.30 + (int.from_bytes(h[:4], "big") / 2**32) * 0.67


def _limits(sim: Simulator, service: str, project_id: str, defaults: dict[str, int],
            usage: dict[str, int]) -> dict[str, int]:
    store: dict[tuple[str, str], dict[str, int]] = sim.__dict__.setdefault("quota_limits", {})
    limits = store.get((service, project_id))
    if limits is None:
        admin = next((p for p in sim.state.values("projects") if p.get("name") == "admin"), None)
        limits = {}
        for res, default in defaults.items():
            used = usage.get(res, 0)
            if admin is not None and project_id == admin["id"] and res in UNLIMITED_IN_ADMIN:
                limits[res] = -1
            elif default >= 0 and used > 0 and used / default > 0.97:
                limits[res] = max(default, math.ceil(used / _fraction(project_id, res)))
            else:
                limits[res] = default
        store[(service, project_id)] = limits
    return limits


def _check_scope(request: Request, project_id: str) -> None:
    tok = request.scope["state"]["token"]
    if project_id != tok.project_id and not any(r["name"] == "admin" for r in tok.roles):
        raise SimHTTPError(403, "Policy doesn't allow os_compute_api:os-quota-sets:detail to be performed.")


# ----------------------------------------------------------------------------------------------
# Nova


def nova_usage(sim: Simulator, project_id: str) -> dict[str, int]:
    """Instances, cores and RAM ``project_id``'s servers use (a copy: callers add to it)."""
    return dict(sim.memo("nova_usage", lambda: _nova_usage_all(sim)).get(project_id) or
                {"instances": 0, "cores": 0, "ram": 0})


def _nova_usage_all(sim: Simulator) -> tuple[dict[str, dict[str, int]], float]:
    flavors = {f["id"]: f for f in sim.state.values("flavors")}
    out: dict[str, dict[str, int]] = {}
    due = math.inf
    for s in sim.state.values("servers"):
        due = Simulator.next_due(s, due)
        if s["OS-EXT-STS:vm_state"] in ("deleted", "soft-delete"):
            continue
        u = out.get(s["tenant_id"])
        if u is None:
            u = out[s["tenant_id"]] = {"instances": 0, "cores": 0, "ram": 0}
        u["instances"] += 1
        f = flavors.get(s["_flavor"])
        if f is not None:
            u["cores"] += f["vcpus"]
            u["ram"] += f["ram"]
    return out, due


def nova_quota_set(sim: Simulator, project_id: str, user_id: str | None, mv: tuple[int, int]) -> dict[str, Any]:
    """``{resource: {"in_use", "limit", "reserved"}}`` of one project at microversion ``mv``: what
    ``os-quota-sets/{id}/detail`` and ``/limits`` both report (key pairs are counted per user)."""
    usage = nova_usage(sim, project_id)
    usage["key_pairs"] = sum(1 for k in sim.state.values("keypairs") if k.get("user_id") == user_id)
    defaults = dict(NOVA_DEFAULTS)
    if mv < (2, 36):
        defaults.update(NOVA_BEFORE_2_36)
    if mv < (2, 57):
        defaults.update(NOVA_BEFORE_2_57)
    limits = {**defaults, **_limits(sim, "compute", project_id, NOVA_DEFAULTS, usage)}
    return {res: {"in_use": usage.get(res, 0), "limit": limits[res], "reserved": 0} for res in sorted(defaults)}


async def nova_quota_detail(sim: Simulator, request: Request, mv: tuple[int, int]) -> Response:
    pid = request.path_params["project_id"]
    _check_scope(request, pid)
    tok = request.scope["state"]["token"]
    return json_body({"quota_set": {"id": pid, **nova_quota_set(sim, pid, tok.user_id, mv)}})


# /limits "absolute": (quota resource, limit name, usage name or None), as real Nova maps them
# (nova/api/openstack/compute/views/limits.py), with the microversion that drops each
_ABSOLUTE: tuple[tuple[str, str, str | None, tuple[int, int] | None], ...] = (
    ("instances", "maxTotalInstances", "totalInstancesUsed", None),
    ("cores", "maxTotalCores", "totalCoresUsed", None),
    ("ram", "maxTotalRAMSize", "totalRAMUsed", None),
    ("key_pairs", "maxTotalKeypairs", None, None),
    ("metadata_items", "maxServerMeta", None, None),
    ("metadata_items", "maxImageMeta", None, (2, 39)),
    ("server_groups", "maxServerGroups", "totalServerGroupsUsed", None),
    ("server_group_members", "maxServerGroupMembers", None, None),
    ("injected_files", "maxPersonality", None, (2, 57)),
    ("injected_file_content_bytes", "maxPersonalitySize", None, (2, 57)),
    ("floating_ips", "maxTotalFloatingIps", "totalFloatingIpsUsed", (2, 36)),
    ("security_groups", "maxSecurityGroups", "totalSecurityGroupsUsed", (2, 36)),
    ("security_group_rules", "maxSecurityGroupRules", None, (2, 36)),
)


def nova_absolute_limits(sim: Simulator, project_id: str, user_id: str | None, mv: tuple[int, int]) -> dict[str, int]:
    """``/limits`` ``absolute`` for one project: the same quota model as ``os-quota-sets`` (limits
    and usage agree between the two APIs, as they do in real Nova)."""
    quota = nova_quota_set(sim, project_id, user_id, mv)
    out: dict[str, int] = {}
    for res, limit_name, used_name, dropped_at in _ABSOLUTE:
        if (dropped_at is not None and mv >= dropped_at) or res not in quota:
            continue
        out[limit_name] = quota[res]["limit"]
        if used_name:
            out[used_name] = quota[res]["in_use"]
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------------
# Neutron

_NEUTRON_KINDS = {"floatingip": "floatingips", "network": "networks", "port": "ports", "router": "routers",
                  "security_group": "security_groups", "security_group_rule": "security_group_rules",
                  "subnet": "subnets"}


def neutron_usage(sim: Simulator, project_id: str) -> dict[str, int]:
    counts = sim.memo("neutron_usage", lambda: (_neutron_counts(sim), math.inf))
    return {res: counts.get((kind, project_id), 0) for res, kind in _NEUTRON_KINDS.items()}


def _neutron_counts(sim: Simulator) -> dict[tuple[str, str | None], int]:
    """(kind, project) -> how many records."""
    counts: dict[tuple[str, str | None], int] = {}
    for kind in _NEUTRON_KINDS.values():
        for r in sim.state.values(kind):
            key = (kind, r.get("project_id", r.get("tenant_id")))
            counts[key] = counts.get(key, 0) + 1
    return counts


def neutron_routes(sim: Simulator) -> list[BaseRoute]:
    async def details(request: Request) -> Response:
        return _neutron_details(sim, request)

    return [Route("/v2.0/quotas/{project_id}/details", details, methods=["GET"])]


def _neutron_details(sim: Simulator, request: Request) -> Response:
    pid = request.path_params["project_id"]
    tok = request.scope["state"]["token"]
    if pid != tok.project_id and not any(r["name"] == "admin" for r in tok.roles):
        raise SimHTTPError(403, "User does not have admin privileges: Only admin is authorized to access quotas for "
                                "another tenant")
    usage = neutron_usage(sim, pid)
    limits = _limits(sim, "network", pid, NEUTRON_DEFAULTS, usage)
    return json_body({"quota": {res: {"limit": limits[res], "used": usage.get(res, 0), "reserved": 0}
                                for res in NEUTRON_DEFAULTS}})


# ----------------------------------------------------------------------------------------------
# Cinder


def cinder_usage(sim: Simulator, project_id: str) -> dict[str, int]:
    """Volumes, gigabytes and snapshots of ``project_id``, in total and per volume type (a copy)."""
    types = {v.get("id"): v.get("name") for v in sim.state.values("volume_types")}
    out: dict[str, int] = {"volumes": 0, "gigabytes": 0, "snapshots": 0}
    for t in types.values():
        for res in ("volumes", "gigabytes", "snapshots"):
            out[f"{res}_{t}"] = 0
    for res, n in (sim.memo("cinder_usage", lambda: _cinder_usage_all(sim)).get(project_id) or {}).items():
        out[res] = out.get(res, 0) + n
    return out


def _cinder_usage_all(sim: Simulator) -> tuple[dict[str, dict[str, int]], float]:
    out: dict[str, dict[str, int]] = {}
    vol_type: dict[str, str | None] = {}
    due = math.inf

    def add(project: str, res: str, n: int) -> None:
        u = out.setdefault(project, {})
        u[res] = u.get(res, 0) + n

    for v in list(sim.state.values("volumes")):  # a due deletion removes the record
        due = Simulator.next_due(sim.settle(v), due)
        if sim.state.get("volumes", v["id"]) is None:
            continue
        vol_type[v["id"]] = v.get("volume_type")
        if v.get("status") == "deleted":
            continue
        pid, size, t = v["os-vol-tenant-attr:tenant_id"], int(v.get("size") or 0), v.get("volume_type")
        add(pid, "volumes", 1)
        add(pid, "gigabytes", size)
        if t:
            add(pid, f"volumes_{t}", 1)
            add(pid, f"gigabytes_{t}", size)
    for s in sim.state.values("snapshots"):
        due = Simulator.next_due(s, due)
        pid = s.get("os-extended-snapshot-attributes:project_id")
        if pid is None or s.get("status") == "deleted":
            continue
        add(pid, "snapshots", 1)
        add(pid, "gigabytes", int(s.get("size") or 0))
        t = vol_type.get(s.get("volume_id"))
        if t:
            add(pid, f"snapshots_{t}", 1)
    return out, due


def cinder_routes(sim: Simulator) -> list[Route]:
    async def show(request: Request) -> Response:
        return _cinder_quota_set(sim, request)

    return [Route("/v3/{project_id}/os-quota-sets/{target_id}", show, methods=["GET"])]


def _cinder_quota_set(sim: Simulator, request: Request) -> Response:
    from app.simulator.nova_common import truthy

    pid = request.path_params["target_id"]
    tok = request.scope["state"]["token"]
    if pid != tok.project_id and not any(r["name"] == "admin" for r in tok.roles):
        raise SimHTTPError(403, "Policy doesn't allow volume_extension:quotas:show to be performed.")
    usage = cinder_usage(sim, pid)
    defaults = dict(CINDER_DEFAULTS)
    for res in usage:
        defaults.setdefault(res, -1)  # per-type quotas are unlimited unless set
    limits = {**defaults, **_limits(sim, "volume", pid, CINDER_DEFAULTS, usage)}
    body: dict[str, Any] = {"id": pid}
    with_usage = truthy(request.query_params.get("usage"))
    for res in defaults:
        body[res] = {"limit": limits[res], "in_use": usage.get(res, 0), "reserved": 0} if with_usage else limits[res]
    body["id"] = body.pop("id")  # Cinder puts the id last
    return json_body({"quota_set": body})
