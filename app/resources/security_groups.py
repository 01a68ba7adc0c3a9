"""Neutron security groups; their rules (the body's ``security_group_rules``) go to a link table, so
no separate rules listing is needed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from app.resources._common import as_int, boolean, cloud_indexes, items, text, ts
from app.resources.base import ChildSpec, Listing, ResourceSpec, link_table, snapshot_table

table = snapshot_table(
    "security_groups",
    Column("name", String(255), doc="Group name (servers.security_groups reports names)."),
    Column("description", String(255), doc="Description."),
    Column("stateful", Boolean, doc="Stateful (default) or stateless group."),
    Column("project_id", String(64), doc="Owning project."),
    Column("rule_count", Integer, doc="Number of rules."),
    Column("created_at", DateTime, doc="Creation time (UTC)."),
    Column("updated_at", DateTime, doc="Last update (UTC)."),
    *cloud_indexes("security_groups", "name", "project_id"),
    doc="Neutron security groups.",
)

rules = link_table(
    "security_group_rules", "security_group",
    Column("rule_id", String(64), doc="Rule id."),
    Column("direction", String(8), doc="ingress or egress."),
    Column("ethertype", String(8), doc="IPv4 or IPv6."),
    Column("protocol", String(32), doc="tcp, udp, icmp, a number, or NULL for any."),
    Column("port_range_min", Integer, doc="First port (or ICMP type)."),
    Column("port_range_max", Integer, doc="Last port (or ICMP code)."),
    Column("remote_ip_prefix", String(64), doc="Allowed CIDR (NULL: any, or see remote_group_id)."),
    Column("remote_group_id", String(64), doc="Allowed peer security group."),
    Column("description", String(255), doc="Description."),
    *cloud_indexes("security_group_rules", "rule_id", "remote_group_id", "port_range_min"),
    doc="Rules of a security group (from the group's security_group_rules).",
)


def _rule_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": r.get("id"),
            "direction": r.get("direction"),
            "ethertype": r.get("ethertype"),
            "protocol": None if r.get("protocol") is None else str(r["protocol"]),
            "port_range_min": as_int(r.get("port_range_min")),
            "port_range_max": as_int(r.get("port_range_max")),
            "remote_ip_prefix": r.get("remote_ip_prefix"),
            "remote_group_id": r.get("remote_group_id"),
            "description": r.get("description") or None,
        }
        for r in items(raw.get("security_group_rules"))
    ]


SPEC = ResourceSpec(
    kind="security_groups",
    table=table,
    description="Neutron security groups and their rules",
    listing=Listing(service="network", path="/security-groups", collection="security_groups"),
    get_path="/security-groups/{id}",
    get_key="security_group",
    columns={
        "name": "name",
        "description": lambda r: r.get("description") or None,
        "stateful": boolean("stateful"),
        "project_id": text("project_id"),
        "rule_count": lambda r: len(list(items(r.get("security_group_rules")))),
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
    },
    children=(ChildSpec(rules, _rule_rows),),
    searchable=("name",),
    filterable=("name", "project_id"),
    poll_interval=300.0,
)
