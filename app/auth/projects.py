"""What a caller restricted to projects (the OAuth projects claim) may call, tool by tool.

``FILTERED`` tools answer over the caller's projects only: the call's view carries the caller's
:class:`app.services.scope.ProjectScope` and the services put it in every statement's WHERE (totals,
pages and summaries are the caller's). Every other tool is refused to restricted callers with the
reason below (fail closed: a tool added later is refused until it is listed here). docs/deploy.md
(OAuth) has the same table."""

from __future__ import annotations

FILTERED = frozenset({
    # instances (own projects)
    "get_instance_details", "search_instances", "get_instance_by_name", "get_instances_by_status",
    # storage, network, catalog, load balancers (own projects; shared/external networks, public
    # and community images, public flavors as Neutron's, Glance's and Nova's default policies show them)
    "get_volume_list", "get_volume_snapshots", "get_network_details", "get_floating_ips", "get_routers",
    "get_security_groups", "get_port_list", "get_subnet_list", "get_image_list", "get_stacks",
    "get_load_balancers", "get_load_balancer", "get_flavor_list", "get_volume_types",
    # history: changes recorded for the caller's projects' rows (rows without a project are left out)
    "get_changes", "get_instance_history",
    # live reads of one of the caller's instances (resolved among its rows, then asked of Nova)
    "get_instance_actions", "get_console_log",
    # quotas of the caller's projects (another project is "not found"; the pressure ranking over its own)
    "get_quota", "get_quota_pressure",
    # identity: the caller's own projects
    "get_project_list",
    # any stored object of a per-project kind (other kinds are refused), as the MCP resource reads
    "get_resource",
    # writes on resources the caller's projects own (app/services/operations/targets.py check_allowed:
    # no creates, targets looked up among the caller's rows); their `list` actions are the filtered lists
    "manage_instance", "manage_volume", "manage_snapshot", "manage_floating_ip", "manage_stack", "manage_image",
})

_INFRASTRUCTURE = ("it reports on the cloud's shared infrastructure (hosts, services, capacity), which a "
                   "project-restricted token may not see")
_CLOUD_WIDE = "its answer spans every project of the cloud and cannot be narrowed to the token's projects"
REFUSED = {
    "get_hypervisor_list": _INFRASTRUCTURE,
    "get_service_status": _INFRASTRUCTURE,
    "get_network_agents": _INFRASTRUCTURE,
    "get_availability_zones": _INFRASTRUCTURE,
    "get_resource_providers": _INFRASTRUCTURE,
    "plan_capacity": _INFRASTRUCTURE,
    "get_cluster_status": _INFRASTRUCTURE,
    "monitor_resources": _INFRASTRUCTURE,
    "get_clouds": _CLOUD_WIDE,
    "get_sync_status": _CLOUD_WIDE,
    "describe_snapshot": _CLOUD_WIDE,
    "query_snapshot": "raw SQL over the snapshot cannot be restricted to projects safely",
    "get_operation_log": "the audit log records every caller's operations",
    "get_user_list": "users are not owned by projects",
    "get_role_assignments": "role assignments span every project",
    "get_keypair_list": "key pairs belong to users, not projects",
    "manage_keypair": "key pairs belong to users, not projects",
}


def refusal(tool: str, claim: str) -> str | None:
    """Why ``tool`` is refused to a caller restricted by the ``claim`` claim (None: it is allowed)."""
    if tool in FILTERED:
        return None
    why = REFUSED.get(tool, "it does not restrict its answer or its action to projects yet")
    return (f"{tool} is not available to this token: it restricts its caller to projects ({claim}) and {why}. "
            f"Tools that answer for your projects: {', '.join(sorted(FILTERED))}. For the rest, use a token "
            "without that claim, or ask the operator.")
