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
}

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
