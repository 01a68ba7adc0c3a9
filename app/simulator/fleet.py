"""Deterministic, seeded fleet generator.

``generate_fleet(sim, n)`` builds a whole cloud proportional to ``n`` instances by calling each
service module's population step in dependency order. Each step gets its own ``random.Random``
derived from the simulator's seed and the step name, so steps stay deterministic independently of
each other (adding records in one step never shifts another step's randomness).

Realistic mixes the monitoring tools must find: some ERROR/SHUTOFF/PAUSED instances, a down
nova-compute service, a disabled hypervisor, a nearly-full hypervisor, orphaned (available,
unattached) volumes, unassociated floating IPs, a failed Heat stack, a DEGRADED and a failed load
balancer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.simulator.core import Simulator


def _steps() -> list[tuple[str, Callable[["Simulator", int, random.Random], None]]]:
    from app.simulator import cinder, glance, heat, keystone, neutron, nova, octavia

    return [
        ("identity", keystone.populate),          # domains, projects, users, roles, assignments, groups
        ("images", glance.populate),              # images (servers reference them)
        ("compute-base", nova.populate_base),     # flavors, AZs, hypervisors, compute services, keypairs
        ("network-base", neutron.populate_base),  # networks, subnets, routers, security groups, agents
        ("servers", nova.populate_servers),       # servers (uses neutron.attach_server_port for addresses)
        ("network-fips", neutron.populate_fips),  # floating IPs, some associated to server ports
        ("storage", cinder.populate),             # volume types, volumes (some attached), snapshots, services
        ("orchestration", heat.populate),         # stacks
        ("load-balancers", octavia.populate),     # Octavia LBs whose members are instances (added last)
    ]


def generate_fleet(sim: "Simulator", n_servers: int) -> None:
    for name, step in _steps():
        step(sim, n_servers, random.Random(f"{sim.seed}:{name}"))
