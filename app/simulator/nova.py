"""Nova (compute v2.1) simulator: one :data:`SERVICE` combining the compute modules.

- :mod:`app.simulator.nova_common`: microversion negotiation, version documents, status mapping, usage.
- :mod:`app.simulator.nova_servers`: server bodies per microversion, listing.
- :mod:`app.simulator.nova_actions`: lifecycle actions (lazy transitions), failure into ERROR, delete.
- :mod:`app.simulator.nova_moves`: resize, confirm/revert, cold and live migration.
- :mod:`app.simulator.nova_volumes`: volume attach and detach.
- :mod:`app.simulator.nova_create`: create (scheduling, BUILD -> ACTIVE), interfaces, volume attachments, limits.
- :mod:`app.simulator.nova_hosts`: hypervisors, compute services, availability zones.
- :mod:`app.simulator.nova_misc`: flavors, keypairs.
- :mod:`app.simulator.nova_fleet`: the fleet generator steps.
"""

from __future__ import annotations

import random

from starlette.routing import BaseRoute, Route

from app.simulator import nova_actions as ac
from app.simulator import nova_create as cr
from app.simulator import nova_hosts as ho
from app.simulator import nova_live as lv
from app.simulator import nova_misc as mi
from app.simulator import nova_servers as sv
from app.simulator import nova_volumes as vo
from app.simulator import quotas as qu
from app.simulator.core import ServiceDef, Simulator
from app.simulator.nova_common import cbind, version_routes


def _routes(sim: Simulator) -> list[BaseRoute]:
    def r(path: str, fn: object, methods: list[str] | None = None) -> Route:
        return Route("/v2.1" + path, cbind(sim, fn), methods=methods or ["GET"])  # type: ignore[arg-type]

    return [
        *version_routes(sim),
        r("/servers", sv.list_servers), r("/servers/detail", sv.list_servers),
        r("/servers", cr.post_server, ["POST"]),
        r("/servers/{id}", sv.show_server), r("/servers/{id}", ac.delete, ["DELETE"]),
        r("/servers/{id}/action", lv.server_action, ["POST"]),
        r("/servers/{id}/os-instance-actions", lv.list_actions),
        r("/servers/{id}/os-instance-actions/{request_id}", lv.show_action),
        r("/os-quota-sets/{project_id}/detail", qu.nova_quota_detail),
        r("/servers/{id}/os-interface", cr.interfaces),
        r("/servers/{id}/os-volume_attachments", cr.volume_attachments),
        r("/servers/{id}/os-volume_attachments", vo.attach, ["POST"]),
        r("/servers/{id}/os-volume_attachments/{volume_id}", vo.detach, ["DELETE"]),
        r("/limits", cr.limits),
        r("/os-hypervisors", ho.list_hypervisors), r("/os-hypervisors/detail", ho.list_hypervisors),
        r("/os-hypervisors/statistics", ho.statistics),
        r("/os-hypervisors/{id}", ho.show_hypervisor), r("/os-hypervisors/{id}/uptime", ho.hypervisor_uptime),
        r("/os-services", ho.list_services), r("/os-services/{id}", ho.update_service, ["PUT"]),
        r("/os-availability-zone", ho.availability_zones), r("/os-availability-zone/detail", ho.availability_zones),
        r("/flavors", mi.list_flavors), r("/flavors/detail", mi.list_flavors), r("/flavors/{id}", mi.show_flavor),
        r("/flavors/{id}/os-extra_specs", mi.extra_specs, ["GET", "POST"]),
        r("/flavors/{id}/os-extra_specs/{key}", mi.extra_specs),
        r("/os-keypairs", mi.list_keypairs), r("/os-keypairs", mi.create_keypair, ["POST"]),
        r("/os-keypairs/{name}", mi.show_keypair), r("/os-keypairs/{name}", mi.delete_keypair, ["DELETE"]),
    ]


SERVICE = ServiceDef(type="compute", name="nova", mount="/compute", path="/compute/v2.1", routes=_routes,
                     public=(r"/?$", r"/v2\.1/?$"))


def populate_base(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.nova_fleet import populate_base as _pb

    _pb(sim, n, rng)


def populate_servers(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.nova_fleet import populate_servers as _ps

    _ps(sim, n, rng)
