"""Octavia: load_balancers, lb_listeners, lb_pools (+ lb_members), lb_health_monitors, lb_amphorae (issue 14).

Revision ID: 0013_load_balancers
Revises: 0012_project_quotas
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_load_balancers"
down_revision: str | None = "0012_project_quotas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("lb_amphorae", "lb_health_monitors", "lb_listeners", "lb_members", "lb_pools", "load_balancers")


def upgrade() -> None:
    op.create_table('lb_amphorae',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=64), nullable=True),
    sa.Column('compute_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('lb_network_ip', sa.String(length=64), nullable=True),
    sa.Column('vrrp_ip', sa.String(length=64), nullable=True),
    sa.Column('ha_ip', sa.String(length=64), nullable=True),
    sa.Column('cert_expiration', sa.DateTime(), nullable=True),
    sa.Column('image_id', sa.String(length=64), nullable=True),
    sa.Column('compute_flavor', sa.String(length=64), nullable=True),
    sa.Column('cached_zone', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_sync_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cloud', 'id', name=op.f('pk_lb_amphorae')),
    comment='Octavia amphorae (admin only).',
    info={'doc': 'Octavia amphorae (admin only).', 'snapshot': True}
    )
    with op.batch_alter_table('lb_amphorae', schema=None) as batch_op:
        batch_op.create_index('ix_lb_amphorae_cloud_compute_id', ['cloud', 'compute_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_amphorae_cloud_deleted_at', ['cloud', 'deleted_at'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_lb_amphorae_cloud_lb_network_ip', ['cloud', 'lb_network_ip'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_amphorae_cloud_loadbalancer_id', ['cloud', 'loadbalancer_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_amphorae_cloud_role', ['cloud', 'role'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_amphorae_cloud_status', ['cloud', 'status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_amphorae_last_sync_id', ['last_sync_id'], unique=False)

    op.create_table('lb_health_monitors',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('pool_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=True),
    sa.Column('delay', sa.Integer(), nullable=True),
    sa.Column('timeout', sa.Integer(), nullable=True),
    sa.Column('max_retries', sa.Integer(), nullable=True),
    sa.Column('max_retries_down', sa.Integer(), nullable=True),
    sa.Column('http_method', sa.String(length=16), nullable=True),
    sa.Column('url_path', sa.String(length=255), nullable=True),
    sa.Column('expected_codes', sa.String(length=64), nullable=True),
    sa.Column('provisioning_status', sa.String(length=16), nullable=True),
    sa.Column('operating_status', sa.String(length=16), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_sync_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cloud', 'id', name=op.f('pk_lb_health_monitors')),
    comment='Octavia health monitors.',
    info={'doc': 'Octavia health monitors.', 'snapshot': True}
    )
    with op.batch_alter_table('lb_health_monitors', schema=None) as batch_op:
        batch_op.create_index('ix_lb_health_monitors_cloud_deleted_at', ['cloud', 'deleted_at'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_name', ['cloud', 'name'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_operating_status', ['cloud', 'operating_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_pool_id', ['cloud', 'pool_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_project_id', ['cloud', 'project_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_provisioning_status', ['cloud', 'provisioning_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_cloud_type', ['cloud', 'type'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_health_monitors_last_sync_id', ['last_sync_id'], unique=False)

    op.create_table('lb_listeners',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('loadbalancer_id', sa.String(length=64), nullable=True),
    sa.Column('protocol', sa.String(length=32), nullable=True),
    sa.Column('protocol_port', sa.Integer(), nullable=True),
    sa.Column('provisioning_status', sa.String(length=16), nullable=True),
    sa.Column('operating_status', sa.String(length=16), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=True),
    sa.Column('default_pool_id', sa.String(length=64), nullable=True),
    sa.Column('connection_limit', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_sync_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cloud', 'id', name=op.f('pk_lb_listeners')),
    comment='Octavia listeners. L7 policy ids in raw.l7policies.',
    info={'doc': 'Octavia listeners. L7 policy ids in raw.l7policies.', 'snapshot': True}
    )
    with op.batch_alter_table('lb_listeners', schema=None) as batch_op:
        batch_op.create_index('ix_lb_listeners_cloud_default_pool_id', ['cloud', 'default_pool_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_deleted_at', ['cloud', 'deleted_at'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_loadbalancer_id', ['cloud', 'loadbalancer_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_name', ['cloud', 'name'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_operating_status', ['cloud', 'operating_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_project_id', ['cloud', 'project_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_protocol', ['cloud', 'protocol'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_protocol_port', ['cloud', 'protocol_port'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_cloud_provisioning_status', ['cloud', 'provisioning_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_listeners_last_sync_id', ['last_sync_id'], unique=False)

    op.create_table('lb_members',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('pool_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('protocol_port', sa.Integer(), nullable=True),
    sa.Column('weight', sa.Integer(), nullable=True),
    sa.Column('backup', sa.Boolean(), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=True),
    sa.Column('operating_status', sa.String(length=16), nullable=True),
    sa.Column('provisioning_status', sa.String(length=16), nullable=True),
    sa.Column('subnet_id', sa.String(length=64), nullable=True),
    comment="Octavia pool members (from each pool's member listing).",
    info={'doc': "Octavia pool members (from each pool's member listing).", 'snapshot': False, 'parent': 'pool'}
    )
    with op.batch_alter_table('lb_members', schema=None) as batch_op:
        batch_op.create_index('ix_lb_members_cloud_address', ['cloud', 'address'], unique=False)
        batch_op.create_index('ix_lb_members_cloud_operating_status', ['cloud', 'operating_status'], unique=False)
        batch_op.create_index('ix_lb_members_cloud_pool_id', ['cloud', 'pool_id'], unique=False)

    op.create_table('lb_pools',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('loadbalancer_id', sa.String(length=64), nullable=True),
    sa.Column('listener_id', sa.String(length=64), nullable=True),
    sa.Column('protocol', sa.String(length=32), nullable=True),
    sa.Column('lb_algorithm', sa.String(length=32), nullable=True),
    sa.Column('provisioning_status', sa.String(length=16), nullable=True),
    sa.Column('operating_status', sa.String(length=16), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=True),
    sa.Column('healthmonitor_id', sa.String(length=64), nullable=True),
    sa.Column('member_count', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_sync_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cloud', 'id', name=op.f('pk_lb_pools')),
    comment="Octavia pools. Members in lb_members (from raw.member_details, the pool's member listing).",
    info={'doc': "Octavia pools. Members in lb_members (from raw.member_details, the pool's member listing).", 'snapshot': True}
    )
    with op.batch_alter_table('lb_pools', schema=None) as batch_op:
        batch_op.create_index('ix_lb_pools_cloud_deleted_at', ['cloud', 'deleted_at'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_lb_pools_cloud_healthmonitor_id', ['cloud', 'healthmonitor_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_listener_id', ['cloud', 'listener_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_loadbalancer_id', ['cloud', 'loadbalancer_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_name', ['cloud', 'name'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_operating_status', ['cloud', 'operating_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_project_id', ['cloud', 'project_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_protocol', ['cloud', 'protocol'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_cloud_provisioning_status', ['cloud', 'provisioning_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_lb_pools_last_sync_id', ['last_sync_id'], unique=False)

    op.create_table('load_balancers',
    sa.Column('cloud', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('provisioning_status', sa.String(length=16), nullable=True),
    sa.Column('operating_status', sa.String(length=16), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=True),
    sa.Column('vip_address', sa.String(length=64), nullable=True),
    sa.Column('vip_port_id', sa.String(length=64), nullable=True),
    sa.Column('vip_subnet_id', sa.String(length=64), nullable=True),
    sa.Column('vip_network_id', sa.String(length=64), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('flavor_id', sa.String(length=64), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('search_text', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_sync_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cloud', 'id', name=op.f('pk_load_balancers')),
    comment='Octavia load balancers, all projects (for an admin). Listener and pool ids in raw.listeners, raw.pools.',
    info={'doc': 'Octavia load balancers, all projects (for an admin). Listener and pool ids in raw.listeners, raw.pools.', 'snapshot': True}
    )
    with op.batch_alter_table('load_balancers', schema=None) as batch_op:
        batch_op.create_index('ix_load_balancers_cloud_created_at', ['cloud', 'created_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_deleted_at', ['cloud', 'deleted_at'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_load_balancers_cloud_name', ['cloud', 'name', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_operating_status', ['cloud', 'operating_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_project_id', ['cloud', 'project_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_provisioning_status', ['cloud', 'provisioning_status'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_search_text', ['cloud', 'search_text'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_vip_address', ['cloud', 'vip_address'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_vip_network_id', ['cloud', 'vip_network_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_vip_port_id', ['cloud', 'vip_port_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_cloud_vip_subnet_id', ['cloud', 'vip_subnet_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_load_balancers_last_sync_id', ['last_sync_id'], unique=False)



def downgrade() -> None:
    for name in TABLES:
        op.drop_table(name)
