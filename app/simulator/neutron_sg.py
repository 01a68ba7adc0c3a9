"""Neutron security groups and security group rules."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso, json_body, new_id
from app.simulator.neutron_api import (
    Spec, body_of, get_or_404, is_admin, list_handler, render_plain, req_project, show_handler, touch,
)

RULE_KEYS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
             "remote_group_id", "remote_address_group_id")


def new_rule(sim: Simulator, sg: dict[str, Any], rng: random.Random | None, ts: str, **kw: Any) -> dict[str, Any]:
    from app.simulator.neutron import idx

    ix = idx(sim)
    ix.standard_attr += 1
    rec = {
        "id": new_id(rng), "project_id": sg["project_id"], "security_group_id": sg["id"],
        "direction": kw.get("direction", "ingress"), "ethertype": kw.get("ethertype", "IPv4"),
        "protocol": kw.get("protocol"), "port_range_min": kw.get("port_range_min"),
        "port_range_max": kw.get("port_range_max"), "remote_ip_prefix": kw.get("remote_ip_prefix"),
        "remote_group_id": kw.get("remote_group_id"), "remote_address_group_id": None,
        "normalized_cidr": kw.get("remote_ip_prefix"), "description": kw.get("description", ""),
        "belongs_to_default_sg": sg["name"] == "default", "_std": ix.standard_attr, "tags": [],
        "created_at": ts, "updated_at": ts, "revision_number": 0,
    }
    sim.state.add("security_group_rules", rec)
    sg["_rules"].append(rec["id"])
    return rec


def new_sg(sim: Simulator, project_id: str, name: str, description: str, rng: random.Random | None,
           ts: float | None = None, egress: bool = True) -> dict[str, Any]:
    t = iso(ts if ts is not None else sim.now())
    sg = {"id": new_id(rng), "name": name, "project_id": project_id, "description": description,
          "stateful": True, "shared": False, "tags": [], "created_at": t, "updated_at": t,
          "revision_number": 1, "_rules": []}
    sim.state.add("security_groups", sg)
    if egress:
        for eth in ("IPv4", "IPv6"):
            new_rule(sim, sg, rng, t, direction="egress", ethertype=eth)
    return sg


def create_default_sg(sim: Simulator, project_id: str, rng: random.Random | None, ts: float | None = None) -> dict[str, Any]:
    """A project's ``default`` group: all egress, ingress only from members of the group (as Neutron creates it)."""
    sg = new_sg(sim, project_id, "default", "Default security group", rng, ts)
    for eth in ("IPv4", "IPv6"):
        new_rule(sim, sg, rng, sg["created_at"], direction="ingress", ethertype=eth, remote_group_id=sg["id"])
    from app.simulator.neutron import idx

    ix = idx(sim)
    ix.default_sg[project_id] = sg["id"]
    ix.sg_list_by_project.setdefault(project_id, [sg["id"]])
    return sg


def render_sg(sim: Simulator, sg: dict[str, Any]) -> dict[str, Any]:
    out = render_plain(sim, sg)
    rules = []
    for rid in sg["_rules"]:
        r = sim.state.get("security_group_rules", rid)
        if r is not None:
            rules.append({**render_plain(sim, r), "standard_attr_id": r["_std"]})
    out["security_group_rules"] = rules
    return out


def routes(sim: Simulator) -> list[BaseRoute]:
    sgs = Spec("security_groups", "security_group", render_sg, "Security group")
    rules = Spec("security_group_rules", "security_group_rule", render_plain, "Security group rule")

    async def create_sg(request: Request) -> Response:
        body = await body_of(request, "security_group")
        project = req_project(request, body)
        from app.simulator.neutron import project_default_sg

        project_default_sg(sim, project)
        name = body.get("name", "")
        if name == "default":
            raise SimHTTPError(409, "Default security group already exists.")
        sg = new_sg(sim, project, name, body.get("description", ""), None)
        if "stateful" in body:
            sg["stateful"] = bool(body["stateful"])
        return json_body({"security_group": render_sg(sim, sg)}, 201)

    async def update_sg(request: Request) -> Response:
        sg = get_or_404(sim, request, sgs, request.path_params["id"])
        body = await body_of(request, "security_group")
        if sg["name"] == "default" and body.get("name", "default") != "default":
            raise SimHTTPError(409, "Insufficient rights for updating default security group name.")
        for k in body:
            if k not in ("name", "description", "stateful"):
                raise SimHTTPError(400, f"Cannot update read-only attribute {k}")
        sg.update(body)
        touch(sim, sg)
        return json_body({"security_group": render_sg(sim, sg)})

    async def delete_sg(request: Request) -> Response:
        sg = get_or_404(sim, request, sgs, request.path_params["id"])
        if sg["name"] == "default" and not is_admin(request):
            raise SimHTTPError(409, "Insufficient rights for removing default security group.")
        for p in sim.state.values("ports"):
            if sg["id"] in p.get("security_groups", ()):
                raise SimHTTPError(409, f"Security Group {sg['id']} in use.")
        for rid in sg["_rules"]:
            sim.state.remove("security_group_rules", rid)
        sim.state.remove("security_groups", sg["id"])
        from app.simulator.neutron import idx

        ix = idx(sim)
        if ix.default_sg.get(sg["project_id"]) == sg["id"]:
            ix.default_sg.pop(sg["project_id"], None)
            ix.sg_list_by_project.pop(sg["project_id"], None)
        return Response(status_code=204)

    async def create_rule(request: Request) -> Response:
        body = await body_of(request, "security_group_rule")
        sg_id = body.get("security_group_id")
        if not sg_id:
            raise SimHTTPError(400, "Failed to parse request. Required attribute 'security_group_id' not specified")
        sg = get_or_404(sim, request, sgs, sg_id)
        direction = body.get("direction")
        if direction not in ("ingress", "egress"):
            raise SimHTTPError(400, f"Invalid input for direction. Reason: {direction!r} is not in "
                                    "['ingress', 'egress'].")
        eth = body.get("ethertype", "IPv4")
        if eth not in ("IPv4", "IPv6"):
            raise SimHTTPError(400, f"Invalid input for ethertype. Reason: '{eth}' is not in ['IPv4', 'IPv6'].")
        proto = body.get("protocol")
        if proto is not None:
            proto = str(proto).lower()
        pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
        if pmin is not None and pmax is not None and int(pmin) > int(pmax):
            raise SimHTTPError(400, "For TCP/UDP protocols, port_range_min must be <= port_range_max")
        if (pmin is not None or pmax is not None) and proto not in ("tcp", "udp", "sctp", "icmp", "ipv6-icmp", "6", "17"):
            raise SimHTTPError(400, "Must also specify protocol if port range is given.")
        prefix = body.get("remote_ip_prefix")
        if prefix:
            try:
                prefix = str(ipaddress.ip_network(prefix, strict=False))
            except ValueError as e:
                raise SimHTTPError(400, f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid "
                                        "IP subnet.") from e
        if body.get("remote_group_id") and sim.state.get("security_groups", body["remote_group_id"]) is None:
            raise SimHTTPError(404, f"Security group {body['remote_group_id']} does not exist")
        kw = {"direction": direction, "ethertype": eth, "protocol": proto,
              "port_range_min": int(pmin) if pmin is not None else None,
              "port_range_max": int(pmax) if pmax is not None else (int(pmin) if pmin is not None else None),
              "remote_ip_prefix": prefix, "remote_group_id": body.get("remote_group_id")}
        for rid in sg["_rules"]:
            r = sim.state.get("security_group_rules", rid)
            if r is not None and all(r.get(k) == kw.get(k) for k in kw):
                raise SimHTTPError(409, f"Security group rule already exists. Rule id is {r['id']}.")
        rec = new_rule(sim, sg, None, iso(sim.now()), description=body.get("description", ""), **kw)
        touch(sim, sg)
        return json_body({"security_group_rule": render_plain(sim, rec)}, 201)

    async def delete_rule(request: Request) -> Response:
        r = get_or_404(sim, request, rules, request.path_params["id"])
        sim.state.remove("security_group_rules", r["id"])
        sg = sim.state.get("security_groups", r["security_group_id"])
        if sg is not None and r["id"] in sg["_rules"]:
            sg["_rules"].remove(r["id"])
            touch(sim, sg)
        return Response(status_code=204)

    return [
        Route("/v2.0/security-groups", list_handler(sim, sgs), methods=["GET"]),
        Route("/v2.0/security-groups", create_sg, methods=["POST"]),
        Route("/v2.0/security-groups/{id}", show_handler(sim, sgs, "id"), methods=["GET"]),
        Route("/v2.0/security-groups/{id}", update_sg, methods=["PUT"]),
        Route("/v2.0/security-groups/{id}", delete_sg, methods=["DELETE"]),
        Route("/v2.0/security-group-rules", list_handler(sim, rules), methods=["GET"]),
        Route("/v2.0/security-group-rules", create_rule, methods=["POST"]),
        Route("/v2.0/security-group-rules/{id}", show_handler(sim, rules, "id"), methods=["GET"]),
        Route("/v2.0/security-group-rules/{id}", delete_rule, methods=["DELETE"]),
    ]
