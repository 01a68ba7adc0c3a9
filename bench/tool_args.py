"""A sensible argument set per read tool, keyed by tool name (tools not listed are called with ``{}``).

``{server_name}``-style placeholders are filled with real values read from the synced database
(:func:`bench.worker.samples`). Extra labelled cases (``"tool (label)"``) benchmark a second typical
use of the same tool."""

from __future__ import annotations

from typing import Any

TOOL_ARGS: dict[str, dict[str, Any]] = {
    "search_instances": {"search_term": "web"},
    "get_instance_details": {"instance_names": "{server_name}"},
    "get_instance_by_name": {"instance_name": "{server_name}"},
    "get_instances_by_status": {"status": "ACTIVE"},
    "get_hypervisor_list": {},
    "get_flavor_list": {},
    "get_cluster_status": {},
    "get_service_status": {},
    "monitor_resources": {},
    "get_network_details": {"network_name": "all"},
    "get_floating_ips": {},
    "get_routers": {},
    "get_security_groups": {},
    "get_volume_list": {},
    "get_volume_types": {},
    "get_volume_snapshots": {},
    "get_user_list": {},
    "get_project_list": {},
    "get_role_assignments": {},
    "get_image_list": {},
    "get_stacks": {},
    "get_keypair_list": {},
    "get_sync_status": {},
    "get_instance_history": {"instance": "{server_name}"},
    "get_changes": {},
    "plan_capacity": {"flavor": "{flavor_name}", "count": 20},
    "query_snapshot": {"sql": "SELECT status, count(*) AS n FROM servers WHERE deleted_at IS NULL GROUP BY status"},
    "describe_snapshot": {},
    "get_resource": {"kind": "servers", "id_or_name": "{server_id}"},
    "get_port_list": {},
    "get_subnet_list": {},
    "get_network_agents": {},
    "get_availability_zones": {},
    "get_resource_providers": {},
    "get_operation_log": {},
    "get_load_balancers": {},
    "get_load_balancer": {"name_or_id": "{load_balancer_id}"},
    "get_clouds": {},
    "get_quota": {"project": "{project_name}"},
    "get_quota_pressure": {},
    # live tools (they ask OpenStack, here the simulator, on a cache miss)
    "get_instance_actions": {"instance": "{server_id}"},
    "get_console_log": {"instance": "{server_id}"},
}

# Second cases for the tools whose cost depends most on the arguments.
EXTRA_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "search_instances (search_in=all, ip)": ("search_instances", {"search_term": "10.0.3.1", "search_in": "all"}),
    "get_instance_details (all, offset 5000)": ("get_instance_details", {"all_instances": True, "offset": 5000}),
    "get_floating_ips (associated=false)": ("get_floating_ips", {"associated": False}),
    "get_volume_list (orphaned=true)": ("get_volume_list", {"orphaned": True}),
    # The largest answers the arguments allow (issue 10: none over ~20,000 tokens at any argument).
    "get_instances_by_status (ERROR)": ("get_instances_by_status", {"status": "ERROR"}),
    "search_instances (limit=200)": ("search_instances", {"search_term": "web", "limit": 200}),
    "get_instance_details (all, limit=200, include_all)": ("get_instance_details",
                                                          {"all_instances": True, "limit": 200, "include_all": True}),
    "get_cluster_status (max_evidence=50)": ("get_cluster_status", {"max_evidence": 50}),
    "monitor_resources (limit=200)": ("monitor_resources", {"limit": 200}),
    "get_service_status (limit=1000)": ("get_service_status", {"limit": 1000}),
    "get_network_details (limit=200)": ("get_network_details", {"network_name": "all", "limit": 200}),
    "get_security_groups (limit=200)": ("get_security_groups", {"limit": 200}),
    "get_volume_list (limit=200)": ("get_volume_list", {"limit": 200}),
    "get_floating_ips (limit=200)": ("get_floating_ips", {"limit": 200}),
    "get_routers (limit=200)": ("get_routers", {"limit": 200}),
    "get_hypervisor_list (limit=200)": ("get_hypervisor_list", {"limit": 200}),
    "get_changes (limit=200)": ("get_changes", {"limit": 200}),
    "get_changes (servers changed)": ("get_changes", {"kinds": "servers", "change": "changed"}),
    "get_instance_history (most changes, limit=200)": ("get_instance_history",
                                                       {"instance": "{changed_server_id}", "limit": 200}),
    "plan_capacity (1,000,000, limit=50)": ("plan_capacity", {"flavor": "{flavor_name}", "count": 1_000_000,
                                                              "limit": 50}),
    "query_snapshot (500 rows)": ("query_snapshot", {"sql": "SELECT * FROM servers WHERE deleted_at IS NULL",
                                                     "limit": 500}),
    "query_snapshot (join, group by)": ("query_snapshot", {
        "sql": "SELECT s.host, f.name AS flavor, count(*) AS n FROM servers s JOIN flavors f ON f.cloud = s.cloud "
               "AND f.id = s.flavor_id WHERE s.deleted_at IS NULL GROUP BY s.host, f.name ORDER BY n DESC",
        "limit": 500}),
    "query_snapshot (endless: its time limit)": ("query_snapshot", {
        "sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) "
               "SELECT count(*) AS n FROM c"}),
    "describe_snapshot (servers)": ("describe_snapshot", {"table": "servers"}),
    "get_resource (resource provider)": ("get_resource", {"kind": "resource_providers", "id_or_name": "{provider_id}"}),
    "get_port_list (limit=200)": ("get_port_list", {"limit": 200}),
    "get_port_list (network)": ("get_port_list", {"network": "{network_name}"}),
    "get_subnet_list (limit=200)": ("get_subnet_list", {"limit": 200}),
    "get_network_agents (limit=200)": ("get_network_agents", {"limit": 200}),
    "get_availability_zones (limit=200)": ("get_availability_zones", {"limit": 200}),
    "get_resource_providers (limit=200)": ("get_resource_providers", {"limit": 200}),
    "get_quota (all_resources)": ("get_quota", {"project": "{project_name}", "all_resources": True}),
    "get_quota (live=true)": ("get_quota", {"project": "{project_name}", "live": True}),
    "get_quota_pressure (limit=50)": ("get_quota_pressure", {"limit": 50}),
    "get_instance_actions (limit=50)": ("get_instance_actions", {"instance": "{server_id}", "limit": 50}),
    "get_console_log (500 lines)": ("get_console_log", {"instance": "{server_id}", "lines": 500}),
    "get_instances_by_status (limit=200)": ("get_instances_by_status", {"status": "ACTIVE", "limit": 200}),
    "get_image_list (limit=200)": ("get_image_list", {"limit": 200}),
    "get_keypair_list (limit=200)": ("get_keypair_list", {"limit": 200}),
    "get_project_list (limit=200)": ("get_project_list", {"limit": 200}),
    "get_role_assignments (limit=200)": ("get_role_assignments", {"limit": 200}),
    "get_stacks (limit=200)": ("get_stacks", {"limit": 200}),
    "get_user_list (limit=200)": ("get_user_list", {"limit": 200}),
    "get_volume_snapshots (limit=200)": ("get_volume_snapshots", {"limit": 200}),
    "get_volume_types (limit=200)": ("get_volume_types", {"limit": 200}),
    "get_load_balancers (limit=200)": ("get_load_balancers", {"limit": 200}),
    "get_load_balancer (limit=200)": ("get_load_balancer", {"name_or_id": "{load_balancer_id}", "limit": 200}),
    "get_clouds (limit=100)": ("get_clouds", {"limit": 100}),
    # detail='full' (every field) on the lean list tools, at their largest page
    "get_volume_list (limit=200, full)": ("get_volume_list", {"limit": 200, "detail": "full"}),
    "get_network_details (limit=200, full)": ("get_network_details", {"network_name": "all", "limit": 200,
                                                                      "detail": "full"}),
    "get_port_list (limit=200, full)": ("get_port_list", {"limit": 200, "detail": "full"}),
    "get_hypervisor_list (limit=200, full)": ("get_hypervisor_list", {"limit": 200, "detail": "full"}),
    "get_load_balancers (limit=200, full)": ("get_load_balancers", {"limit": 200, "detail": "full"}),
    "get_stacks (limit=200, full)": ("get_stacks", {"limit": 200, "detail": "full"}),
}

# Cases whose answer is a refusal by design (the time is that of the refusal).
EXPECT_REFUSAL = {"query_snapshot (endless: its time limit)"}

# Tools that write (never called by the harness even if registered).
SKIP_PREFIXES = ("manage_", "set_", "create_", "delete_")


def cases(tool_names: list[str], fill: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, tool, arguments) for every registered read tool plus the extra cases whose tool exists."""
    out = []
    for name in sorted(tool_names):
        if name.startswith(SKIP_PREFIXES):
            continue
        out.append((name, name, _fill(TOOL_ARGS.get(name, {}), fill)))
    for label, (tool, args) in EXTRA_CASES.items():
        if tool in tool_names:
            out.append((label, tool, _fill(args, fill)))
    return out


def _fill(args: dict[str, Any], fill: dict[str, str]) -> dict[str, Any]:
    return {k: v.format(**fill) if isinstance(v, str) and "{" in v else v for k, v in args.items()}
