"""MCP prompts that teach an assistant to use this server well: safe operating rules and a map from
everyday questions to tools. Short and accurate, unlike the original's long template."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

OPERATING_RULES = """\
You are operating an OpenStack cloud through the mcp-openstack-ops tools.

Rules:
1. Read before you act. Read tools answer from a snapshot; each result has `snapshot.as_of`,
   `snapshot.age_seconds` and `snapshot.stale`. If `stale` is true or a kind is listed as missing,
   say so, and prefer `get_sync_status` to explain why.
2. Never guess a target. Resolve names with `search_instances` / `get_instance_by_name`; if a name is
   ambiguous, ask which one (use the ID).
3. Destructive actions (delete, stop, hard reboot, disassociate, stack delete/update) take two calls:
   the first returns a preview and a `confirmation_token`. Show the preview to the user and call again
   with the token only after they agree. Tokens expire and work only for the same action and targets.
4. Report failures as failures: a tool error message says what went wrong and what to do next.
5. Never ask for or repeat secrets. Private keys returned by keypair creation are shown once; tell the
   user to store them safely.
"""

QUESTION_MAP = """\
Question -> tool:
- "How healthy is the cloud?" -> get_cluster_status (health score, issues with evidence)
- "Which services/agents are down?" -> get_service_status
- "Are we running out of capacity?" -> monitor_resources (per-hypervisor CPU/RAM/disk vs capacity)
- "Find instance web-12 / instances on host cmp-3 / with IP 10.0.0.5" -> search_instances(search_term, search_in)
- "Details of these instances" -> get_instance_details(instance_names=..., instance_ids=...)
- "Everything in ERROR" -> get_instances_by_status(status="ERROR")
- "Networks, subnets, routers, floating IPs, security groups" -> get_network_details, get_routers,
  get_floating_ips, get_security_groups
- "Volumes, snapshots, types" -> get_volume_list, get_volume_snapshots, get_volume_types
- "Users, projects, who has which role" -> get_user_list, get_project_list, get_role_assignments
- "Heat stacks" -> get_stacks; "images" -> get_image_list; "flavors" -> get_flavor_list
- "How fresh is the data? Why is it stale?" -> get_sync_status
- "Can I fit 20 m1.large in az1?" -> plan_capacity(flavor, count, availability_zone)
- "Which port has IP 10.0.0.5? Which agents are down?" -> get_port_list(fixed_ip=...), get_network_agents(alive=false)
- "Subnets, availability zones, Placement providers" -> get_subnet_list, get_availability_zones, get_resource_providers
- "Everything stored about this object" -> get_resource(kind, id_or_name)
- "A question no tool answers" -> describe_snapshot, then query_snapshot (if enabled)
"""

WRITE_TOOLS = """\
Writes are enabled: manage_instance, manage_volume, manage_snapshot, manage_floating_ip,
manage_keypair, manage_image, manage_stack. Each lists its actions; results report the new state
as refreshed from OpenStack. Use wait=true to follow a change to its final state.
"""


def register(mcp: MCPServer[Any], *, writes_enabled: bool) -> None:
    @mcp.prompt(name="openstack_operator", title="OpenStack operator guide",
                description="Safe operating rules and which tool answers which question.")
    def openstack_operator() -> str:
        text = OPERATING_RULES + "\n" + QUESTION_MAP
        if writes_enabled:
            text += "\n" + WRITE_TOOLS
        else:
            text += "\nWrites are disabled on this server (ALLOW_MODIFY_OPERATIONS=false): only read tools exist.\n"
        return text

    @mcp.prompt(name="investigate_instance", title="Investigate an instance",
                description="A step-by-step check of one instance: state, host, network, volumes.")
    def investigate_instance(instance: str) -> str:
        return (
            f"Investigate the OpenStack instance '{instance}'.\n"
            f"1. get_instance_by_name(instance_name='{instance}') (if ambiguous, list the candidates and ask).\n"
            "2. Report status, task state, host and its hypervisor's load (monitor_resources), flavor, image, "
            "addresses, attached volumes and security groups.\n"
            "3. If the host's compute service is down (get_service_status), say so.\n"
            "4. State the snapshot age of every fact you report. Do not change anything."
        )

    @mcp.prompt(name="capacity_report", title="Capacity report",
                description="Summarise capacity and the hypervisors that need attention.")
    def capacity_report() -> str:
        return (
            "Write a capacity report: call monitor_resources and get_cluster_status. List totals (used/capacity "
            "with allocation ratios), hypervisors over 80% and 90%, disabled or down hypervisors, and the top "
            "consumers. Quote the snapshot age. Recommend actions but do not perform them."
        )
