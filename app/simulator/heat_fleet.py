"""Heat part of the fleet: ~n/100 stacks from a few realistic templates, one ``CREATE_FAILED``.

The web template carries a parameter that is a secret but not marked hidden (``STACK_PARAM_SECRET``):
the test session's secrets scan fails if that value ever reaches a database."""

from __future__ import annotations

import copy
import functools
import random
from typing import Any

import yaml

from app.simulator.core import Simulator
from app.simulator.heat import new_stack

DAY = 86400.0

STACK_PARAM_SECRET = "sim-stack-param-secret-4e1f"

TEMPLATES = {
    "web": """
heat_template_version: 2018-08-31
description: Single web server with a floating IP
parameters:
  image: {type: string, default: ubuntu-24.04-server-cloudimg-amd64}
  flavor: {type: string, default: m1.small}
  key_name: {type: string, default: ops}
  network: {type: string, default: private}
  # not marked hidden: Heat returns its value in clear (the snapshot must keep the name only)
  api_secret: {type: string, default: sim-stack-param-secret-4e1f}
resources:
  port:
    type: OS::Neutron::Port
    properties: {network: {get_param: network}, security_groups: [default, web]}
  server:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: {get_param: flavor}
      key_name: {get_param: key_name}
      networks: [{port: {get_resource: port}}]
  fip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: public, port_id: {get_resource: port}}
outputs:
  server_id:
    description: Nova server id
    value: {get_resource: server}
  url:
    description: Public URL
    value: {get_attr: [fip, floating_ip_address]}
""",
    "data": """
heat_template_version: 2021-04-16
description: Database node with a data volume
parameters:
  size: {type: number, default: 100}
  db_password: {type: string, hidden: true, default: changeme}
resources:
  volume:
    type: OS::Cinder::Volume
    properties: {size: {get_param: size}, volume_type: ceph-ssd}
  server:
    type: OS::Nova::Server
    properties: {image: debian-12-genericcloud-amd64, flavor: m1.large, networks: [{network: private}]}
  attachment:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: {get_resource: server}, volume_id: {get_resource: volume}}
outputs:
  volume_id:
    value: {get_resource: volume}
""",
    "net": """
heat_template_version: 2018-08-31
description: Isolated network with a router
resources:
  net:
    type: OS::Neutron::Net
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.200.0.0/24}
  router:
    type: OS::Neutron::Router
    properties: {external_gateway_info: {network: public}}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: subnet}}
""",
}
FAIL_REASON = ('Resource CREATE failed: ResourceInError: resources.server: Went to status ERROR due to '
               '"Message: No valid host was found. There are not enough hosts available., Code: 500"')


@functools.lru_cache(maxsize=1)
def parsed_templates() -> dict[str, Any]:
    """TEMPLATES parsed once per process (PyYAML's pure-Python parser is a good part of a fleet's build
    time); :func:`populate` works on a deep copy."""
    return {k: yaml.safe_load(v) for k, v in TEMPLATES.items()}


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    tpls = copy.deepcopy(parsed_templates())
    kinds = list(tpls)
    projects = [p["id"] for p in sim.state.values("projects") if p.get("name") != "service"] or [""]
    count = max(3, n // 100)
    t0 = sim.now() - 300 * DAY
    failed = rng.randrange(count)
    for i in range(count):
        kind = kinds[i % len(kinds)]
        ts = t0 + (i / count) * 290 * DAY + rng.random() * 3600
        if i == failed:
            status, reason = "CREATE_FAILED", FAIL_REASON
        elif i % 7 == 3:
            status, reason = "UPDATE_COMPLETE", "Stack UPDATE completed successfully"
        else:
            status, reason = "CREATE_COMPLETE", "Stack CREATE completed successfully"
        s = new_stack(sim, projects[i % len(projects)], f"{kind}-stack-{i:04d}", tpls[kind], {}, status=status,
                      reason=reason, ts=ts, rng=rng)
        if status == "CREATE_FAILED":
            for name, r in s["_resources"].items():
                if name != "server":
                    r["resource_status"] = "CREATE_COMPLETE"
                else:
                    r["resource_status_reason"] = FAIL_REASON.split(": ", 1)[1]
        if status.startswith("UPDATE"):
            from app.simulator.core import iso

            s["updated_time"] = iso(ts + 20 * DAY)
