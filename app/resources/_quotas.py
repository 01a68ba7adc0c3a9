"""Quota arithmetic shared by the ``project_quotas`` kind (its columns and link rows) and the live
``get_quota`` path (app/services/quotas.py): the three upstream quota bodies, what we call their
resources, % used, and what runs out first. One place, so a synced row and a live read always agree.

* compute: ``GET /os-quota-sets/{project}/detail`` -> ``{"quota_set": {<res>: {"limit", "in_use", "reserved"}}}``
* network: ``GET /v2.0/quotas/{project}/details`` -> ``{"quota": {<res>: {"limit", "used", "reserved"}}}``
* volume: ``GET /v3/os-quota-sets/{project}?usage=True`` -> ``{"quota_set": {<res>: {"limit", "in_use",
  "reserved"}, "id"}}``

``-1`` is unlimited: never a percentage. ``used_pct`` is ``in_use / limit`` (reservations are shown
beside it, as ``openstack quota show --usage`` does); a limit of 0 (the resource is disabled) has no
percentage either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.resources._common import as_int
from app.resources.base import ENRICH_UNAVAILABLE, Enrich


@dataclass(frozen=True)
class QuotaSource:
    service: str  # what we report: compute, network, volume
    proxy: str  # the openstacksdk proxy: compute, network, block_storage
    path: str
    microversion: str | None
    params: tuple[tuple[str, str], ...]
    wrapper: str  # the body's top-level key
    used_key: str  # Neutron says "used", Nova and Cinder "in_use"
    raw_key: str  # where the synced body lives in the project's raw object

    def enrich(self) -> Enrich:
        return Enrich(self.proxy, self.path, microversion=self.microversion, optional=True, params=self.params)


SOURCES: tuple[QuotaSource, ...] = (
    QuotaSource("compute", "compute", "/os-quota-sets/{id}/detail", "max", (), "quota_set", "in_use", "compute_quota"),
    QuotaSource("network", "network", "/quotas/{id}/details", None, (), "quota", "used", "network_quota"),
    QuotaSource("volume", "block_storage", "/os-quota-sets/{id}", "max", (("usage", "True"),), "quota_set", "in_use",
                "volume_quota"),
)
BY_SERVICE = {s.service: s for s in SOURCES}

# (service, upstream resource) -> the name we report; the resources people ask about.
KEY_RESOURCES: dict[tuple[str, str], str] = {
    ("compute", "instances"): "instances", ("compute", "cores"): "cores", ("compute", "ram"): "ram_mb",
    ("network", "floatingip"): "floating_ips", ("network", "port"): "ports", ("network", "network"): "networks",
    ("volume", "volumes"): "volumes", ("volume", "gigabytes"): "gigabytes", ("volume", "snapshots"): "snapshots",
}
KEY_NAMES = frozenset(KEY_RESOURCES.values())


def used_pct(limit: int, in_use: int) -> float | None:
    """``in_use / limit`` in percent (one decimal); None when unlimited (-1) or disabled (0)."""
    return round(100.0 * in_use / limit, 1) if limit > 0 else None


def items_of(service: str, body: Any) -> list[dict[str, Any]]:
    """One row per resource of one service's quota body: service, resource, quota_limit, in_use,
    reserved, used_pct, key_resource (ordered by resource name)."""
    src = BY_SERVICE[service]
    inner = body.get(src.wrapper) if isinstance(body, dict) else None
    out = []
    for res, v in sorted((inner or {}).items()):
        if not isinstance(v, dict) or "limit" not in v:
            continue
        limit = as_int(v.get("limit"))
        limit = -1 if limit is None else limit
        used = as_int(v.get(src.used_key)) or 0
        name = KEY_RESOURCES.get((service, res), res)
        out.append({"service": service, "resource": name[:255], "quota_limit": limit, "in_use": used,
                    "reserved": as_int(v.get("reserved")) or 0, "used_pct": used_pct(limit, used),
                    "key_resource": name in KEY_NAMES})
    return out


def tightest(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The key resource with a limit closest to it (highest %, then least headroom)."""
    limited = [i for i in items if i["key_resource"] and i["used_pct"] is not None]
    return max(limited, key=lambda i: (i["used_pct"], -(i["quota_limit"] - i["in_use"]), i["service"], i["resource"]),
               default=None)


def at_or_over(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i["key_resource"] and (i["used_pct"] or 0.0) >= 100.0]


# ------------------------------------------------------------------------------------------------
# the synced project object: Keystone's project with the three bodies under SOURCES' raw keys


def synced_items(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource row of a synced project (services that did not answer contribute none)."""
    return [row for src in SOURCES for row in items_of(src.service, raw.get(src.raw_key))]


def unavailable(raw: dict[str, Any]) -> dict[str, str]:
    """service -> why it did not answer for this project (not offered, 403, 404); never zeros."""
    why = raw.get(ENRICH_UNAVAILABLE) or {}
    out = {}
    for src in SOURCES:
        if src.raw_key in why:
            out[src.service] = str(why[src.raw_key])
        elif not isinstance(raw.get(src.raw_key), dict):
            out[src.service] = f"{src.service} quotas were not read"
    return out


def summary_columns(raw: dict[str, Any]) -> dict[str, Any]:
    """The per-project columns of ``project_quotas``."""
    items = synced_items(raw)
    top = tightest(items)
    gone = unavailable(raw)
    return {
        "max_used_pct": top["used_pct"] if top else None,
        "tightest": f"{top['service']}/{top['resource']}" if top else None,
        "tightest_in_use": top["in_use"] if top else None,
        "tightest_limit": top["quota_limit"] if top else None,
        "at_or_over": len(at_or_over(items)),
        "unavailable": ",".join(sorted(gone)) or None,
    }


def column(name: str) -> Any:
    return lambda raw: summary_columns(raw)[name]
