"""reporting views: v_instances, v_hypervisor_capacity, v_volumes, v_down_services, v_project_usage.

Views over live rows (``deleted_at IS NULL``) for SQL users and the MCP tools. Name lookups (flavor,
project, image, server names) also use tombstoned rows: a deleted flavor still describes its servers.
The SQL is portable between SQLite and PostgreSQL; only the string aggregate differs.
``VIEWS`` is also read by app/db/schemadoc.py to document them.

Revision ID: 0002_reporting_views
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_reporting_views"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> (one sentence for docs/schema.md, SELECT with {agg} for the dialect's string aggregate)
VIEWS: dict[str, tuple[str, str]] = {
    "v_instances": (
        "One row per live server with its flavor size, project/user/image names, placement and its fixed and floating IPs.",
        """
SELECT s.cloud, s.id, s.name, s.status, s.task_state, s.vm_state, s.power_state_name AS power_state,
       s.host, s.hypervisor_hostname, s.availability_zone,
       s.project_id, p.name AS project_name, s.user_id, u.name AS user_name,
       s.flavor_id, COALESCE(s.flavor_name, f.name) AS flavor_name,
       COALESCE(s.flavor_vcpus, f.vcpus) AS vcpus, COALESCE(s.flavor_ram_mb, f.ram_mb) AS ram_mb,
       COALESCE(s.flavor_disk_gb, f.disk_gb) AS disk_gb,
       s.image_id, i.name AS image_name, s.key_name, s.locked,
       s.created_at, s.updated_at, s.launched_at,
       (SELECT {agg}(a.ip_address, ', ') FROM server_addresses a
         WHERE a.cloud = s.cloud AND a.server_id = s.id AND a.ip_type = 'fixed') AS fixed_ips,
       (SELECT {agg}(a.ip_address, ', ') FROM server_addresses a
         WHERE a.cloud = s.cloud AND a.server_id = s.id AND a.ip_type = 'floating') AS floating_ips
FROM servers s
LEFT JOIN flavors f ON f.cloud = s.cloud AND f.id = s.flavor_id
LEFT JOIN projects p ON p.cloud = s.cloud AND p.id = s.project_id
LEFT JOIN users u ON u.cloud = s.cloud AND u.id = s.user_id
LEFT JOIN images i ON i.cloud = s.cloud AND i.id = s.image_id
WHERE s.deleted_at IS NULL
""",
    ),
    "v_hypervisor_capacity": (
        "Per live hypervisor: vCPU, RAM and disk capacity and use with percentages; capacity from Placement "
        "((total - reserved) * allocation_ratio, usage from usages) when a resource provider matches by uuid or "
        "name, else from the hypervisor's own fields (compute API below 2.88); NULL when neither source has it.",
        """
SELECT c.*,
       ROUND(CAST(100.0 * c.vcpus_used / NULLIF(c.vcpus_total, 0) AS NUMERIC), 1) AS vcpus_used_pct,
       ROUND(CAST(100.0 * c.memory_mb_used / NULLIF(c.memory_mb_total, 0) AS NUMERIC), 1) AS memory_used_pct,
       ROUND(CAST(100.0 * c.disk_gb_used / NULLIF(c.disk_gb_total, 0) AS NUMERIC), 1) AS disk_used_pct
FROM (
  SELECT h.cloud, h.id AS hypervisor_id, h.hypervisor_hostname, h.host, h.state, h.status, h.hypervisor_type,
         rp.id AS resource_provider_id,
         CASE WHEN rp.id IS NOT NULL THEN 'placement'
              WHEN h.vcpus IS NOT NULL OR h.memory_mb IS NOT NULL THEN 'hypervisor' END AS capacity_source,
         CASE WHEN rp.id IS NOT NULL THEN inv.vcpus ELSE h.vcpus END AS vcpus_total,
         CASE WHEN rp.id IS NOT NULL THEN COALESCE(us.vcpus, 0) ELSE h.vcpus_used END AS vcpus_used,
         CASE WHEN rp.id IS NOT NULL THEN inv.memory_mb ELSE h.memory_mb END AS memory_mb_total,
         CASE WHEN rp.id IS NOT NULL THEN COALESCE(us.memory_mb, 0) ELSE h.memory_mb_used END AS memory_mb_used,
         CASE WHEN rp.id IS NOT NULL THEN inv.disk_gb ELSE h.local_gb END AS disk_gb_total,
         CASE WHEN rp.id IS NOT NULL THEN COALESCE(us.disk_gb, 0) ELSE h.local_gb_used END AS disk_gb_used,
         h.running_vms
  FROM hypervisors h
  LEFT JOIN resource_providers rp
         ON rp.cloud = h.cloud AND rp.deleted_at IS NULL
        AND rp.id = COALESCE(
              (SELECT r1.id FROM resource_providers r1
                WHERE r1.cloud = h.cloud AND r1.id = h.id AND r1.deleted_at IS NULL),
              (SELECT MIN(r2.id) FROM resource_providers r2
                WHERE r2.cloud = h.cloud AND r2.name = h.hypervisor_hostname AND r2.deleted_at IS NULL))
  LEFT JOIN (
    SELECT cloud, resource_provider_id,
           SUM(CASE WHEN resource_class = 'VCPU' THEN (total - reserved) * allocation_ratio END) AS vcpus,
           SUM(CASE WHEN resource_class = 'MEMORY_MB' THEN (total - reserved) * allocation_ratio END) AS memory_mb,
           SUM(CASE WHEN resource_class = 'DISK_GB' THEN (total - reserved) * allocation_ratio END) AS disk_gb
    FROM resource_provider_inventories GROUP BY cloud, resource_provider_id
  ) inv ON inv.cloud = rp.cloud AND inv.resource_provider_id = rp.id
  LEFT JOIN (
    SELECT cloud, resource_provider_id,
           SUM(CASE WHEN resource_class = 'VCPU' THEN used END) AS vcpus,
           SUM(CASE WHEN resource_class = 'MEMORY_MB' THEN used END) AS memory_mb,
           SUM(CASE WHEN resource_class = 'DISK_GB' THEN used END) AS disk_gb
    FROM resource_provider_usages GROUP BY cloud, resource_provider_id
  ) us ON us.cloud = rp.cloud AND us.resource_provider_id = rp.id
  WHERE h.deleted_at IS NULL
) c
""",
    ),
    "v_volumes": (
        "One row per live volume with its project name and the ids and names of the servers it is attached to.",
        """
SELECT v.cloud, v.id, v.name, v.status, v.size_gb, v.volume_type, v.availability_zone, v.bootable,
       v.encrypted, v.multiattach, v.host, v.project_id, p.name AS project_name, v.snapshot_id,
       v.created_at, v.updated_at,
       (SELECT COUNT(*) FROM volume_attachments a
         WHERE a.cloud = v.cloud AND a.volume_id = v.id) AS attachment_count,
       (SELECT {agg}(a.server_id, ', ') FROM volume_attachments a
         WHERE a.cloud = v.cloud AND a.volume_id = v.id) AS attached_server_ids,
       (SELECT {agg}(COALESCE(s.name, a.server_id), ', ') FROM volume_attachments a
          LEFT JOIN servers s ON s.cloud = a.cloud AND s.id = a.server_id
         WHERE a.cloud = v.cloud AND a.volume_id = v.id) AS attached_server_names
FROM volumes v
LEFT JOIN projects p ON p.cloud = v.cloud AND p.id = v.project_id
WHERE v.deleted_at IS NULL
""",
    ),
    "v_down_services": (
        "Nova services, Neutron agents and Cinder services that are down or disabled, in one shape "
        "(service: compute, network or block_storage; state: up/down; status: enabled/disabled).",
        """
SELECT cs.cloud, 'compute' AS service, cs.id, cs.binary, cs.host, cs.zone, cs.status, cs.state,
       cs.disabled_reason, cs.updated_at AS last_heartbeat_at
FROM compute_services cs
WHERE cs.deleted_at IS NULL AND (cs.state = 'down' OR cs.status = 'disabled')
UNION ALL
SELECT na.cloud, 'network' AS service, na.id, na.binary, na.host, na.availability_zone AS zone,
       CASE WHEN na.admin_state_up THEN 'enabled' ELSE 'disabled' END AS status,
       CASE WHEN na.alive THEN 'up' ELSE 'down' END AS state,
       NULL AS disabled_reason, na.heartbeat_at AS last_heartbeat_at
FROM network_agents na
WHERE na.deleted_at IS NULL AND (NOT na.alive OR NOT na.admin_state_up)
UNION ALL
SELECT vs.cloud, 'block_storage' AS service, vs.id, vs.binary, vs.host, vs.zone, vs.status, vs.state,
       vs.disabled_reason, vs.updated_at AS last_heartbeat_at
FROM volume_services vs
WHERE vs.deleted_at IS NULL AND (vs.state = 'down' OR vs.status = 'disabled')
""",
    ),
    "v_project_usage": (
        "Per project (every live project, plus any project id that owns live servers or volumes): instances "
        "(all and ACTIVE), vCPUs and RAM of their flavors, volumes and volume GiB.",
        """
SELECT k.cloud, k.project_id, p.name AS project_name,
       COALESCE(i.instances, 0) AS instances, COALESCE(i.instances_active, 0) AS instances_active,
       COALESCE(i.vcpus, 0) AS vcpus, COALESCE(i.ram_mb, 0) AS ram_mb,
       COALESCE(vo.volumes, 0) AS volumes, COALESCE(vo.volume_gb, 0) AS volume_gb
FROM (
  SELECT cloud, id AS project_id FROM projects WHERE deleted_at IS NULL
  UNION SELECT cloud, project_id FROM servers WHERE deleted_at IS NULL AND project_id IS NOT NULL
  UNION SELECT cloud, project_id FROM volumes WHERE deleted_at IS NULL AND project_id IS NOT NULL
) k
LEFT JOIN projects p ON p.cloud = k.cloud AND p.id = k.project_id
LEFT JOIN (
  SELECT s.cloud, s.project_id, COUNT(*) AS instances,
         SUM(CASE WHEN s.status = 'ACTIVE' THEN 1 ELSE 0 END) AS instances_active,
         SUM(COALESCE(s.flavor_vcpus, f.vcpus)) AS vcpus, SUM(COALESCE(s.flavor_ram_mb, f.ram_mb)) AS ram_mb
  FROM servers s LEFT JOIN flavors f ON f.cloud = s.cloud AND f.id = s.flavor_id
  WHERE s.deleted_at IS NULL GROUP BY s.cloud, s.project_id
) i ON i.cloud = k.cloud AND i.project_id = k.project_id
LEFT JOIN (
  SELECT cloud, project_id, COUNT(*) AS volumes, SUM(size_gb) AS volume_gb
  FROM volumes WHERE deleted_at IS NULL GROUP BY cloud, project_id
) vo ON vo.cloud = k.cloud AND vo.project_id = k.project_id
""",
    ),
}


def render(sql: str, dialect: str) -> str:
    return sql.format(agg="string_agg" if dialect == "postgresql" else "group_concat").strip()


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (_doc, sql) in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS\n{render(sql, dialect)}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
