"""Collects every kind's ``SPEC``. Importing this module imports every kind module (and so defines
every table on ``app.db.meta.metadata``)."""

from __future__ import annotations

import importlib

from app.resources.base import ResourceSpec

# Module names under app.resources, in sync order (dependencies first).
KIND_MODULES: tuple[str, ...] = (
    # identity first (names for everything else), then compute, network, storage, the rest
    "projects", "users", "role_assignments",
    "availability_zones", "flavors", "compute_services", "hypervisors", "resource_providers", "keypairs",
    "images",
    "networks", "subnets", "security_groups", "routers", "ports", "floating_ips", "network_agents",
    "volume_types", "volume_services", "volumes", "volume_snapshots",
    "servers",
    "stacks",
    "load_balancers", "lb_listeners", "lb_pools", "lb_health_monitors", "lb_amphorae",
    "project_quotas",
)

_specs: dict[str, ResourceSpec] | None = None


def all_specs() -> dict[str, ResourceSpec]:
    """kind -> spec, in sync order."""
    global _specs
    if _specs is None:
        specs: dict[str, ResourceSpec] = {}
        for mod in KIND_MODULES:
            spec: ResourceSpec = importlib.import_module(f"app.resources.{mod}").SPEC
            specs[spec.kind] = spec
        _specs = specs
    return _specs


def get_spec(kind: str) -> ResourceSpec:
    specs = all_specs()
    try:
        return specs[kind]
    except KeyError:
        raise KeyError(f"unknown kind {kind!r}; known: {', '.join(specs)}") from None


def load_all_tables() -> None:
    """Make sure every table (snapshot, link and bookkeeping) is defined on the metadata."""
    all_specs()
    importlib.import_module("app.db.bookkeeping")
    importlib.import_module("app.services.operations.tables")
