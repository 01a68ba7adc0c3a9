"""Nova servers: compact records rendered per microversion, listing with filters/pagination/
``changes-since`` (create: :mod:`app.simulator.nova_create`; the lifecycle actions with lazy
transitions, failure and delete: :mod:`app.simulator.nova_actions`).

A server record keeps API-named keys for what Neutron/Cinder read (``id``, ``name``, ``tenant_id``,
``status``, ``OS-EXT-SRV-ATTR:host``, ``OS-EXT-AZ:availability_zone``, ``created``, ``updated``) and
compact internal ``_`` keys for the rest; :func:`render` builds the full body on request.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.simulator.core import SimHTTPError, Simulator, iso, iso_micro, json_body, paginate, parse_iso
from app.simulator.nova_common import MV, base, is_admin, token, truthy

EMPTY: dict[str, Any] = {}
USER_DATA = ("#cloud-config\nhostname: {name}\nchpasswd:\n  list: |\n    root:{pw}\n  expire: false\n"
             "write_files:\n  - path: /etc/app/credentials.env\n    permissions: '0600'\n    content: |\n"
             "      DB_PASSWORD={db}\n      API_TOKEN=tok_{tok}\n")
FAULT_MSG = "No valid host was found. There are not enough hosts available."
FAULT_DETAILS = ('Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/nova/conductor/manager.py", '
                 'line 1580, in schedule_and_build_instances\n    host_lists = self._schedule_instances(context, '
                 'request_specs[0],\nnova.exception.NoValidHost: No valid host was found. There are not enough hosts '
                 'available.\n')


def user_data_for(rec: dict[str, Any]) -> str | None:
    ud = rec.get("_ud")
    if ud is None or isinstance(ud, str):
        return ud
    h = hashlib.sha256(rec["id"].encode()).hexdigest()
    text = USER_DATA.format(name=rec["name"], pw=h[:16], db=h[16:40], tok=h[40:])
    return base64.b64encode(text.encode()).decode()


def hostname_of(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "server"


class Renderer:
    """Renders many servers for one request (caches flavors, hostIds, host status)."""

    def __init__(self, sim: Simulator, request: Request, mv: MV) -> None:
        from app.simulator import cinder, neutron

        self.sim, self.mv, self.b = sim, mv, base(request)
        self.neutron, self.cinder = neutron, cinder
        self.flavors: dict[str, dict[str, Any]] = {}
        self.hostids: dict[tuple[str, str], str] = {}
        self.host_status = _host_status_map(sim)

    def flavor(self, fid: str) -> dict[str, Any]:
        out = self.flavors.get(fid)
        if out is None:
            f = self.sim.state.get("flavors", fid) or self.sim.state.get("deleted_flavors", fid) or {}
            if self.mv >= (2, 47):
                out = {"vcpus": f.get("vcpus", 0), "ram": f.get("ram", 0), "disk": f.get("disk", 0),
                       "ephemeral": f.get("OS-FLV-EXT-DATA:ephemeral", 0), "swap": f.get("swap") or 0,
                       "original_name": f.get("name", ""), "extra_specs": f.get("_extra_specs", {})}
            else:
                out = {"id": fid, "links": [{"rel": "bookmark", "href": f"{self.b}/flavors/{fid}"}]}
            self.flavors[fid] = out
        return dict(out)

    def host_id(self, project: str, host: str | None) -> str:
        if not host:
            return ""
        k = (project, host)
        h = self.hostids.get(k)
        if h is None:
            h = self.hostids[k] = hashlib.sha224((project + host).encode()).hexdigest()
        return h

    def volumes(self, sid: str) -> list[dict[str, Any]]:
        out = []
        for v in self.cinder.server_volume_ids(self.sim, sid):
            d = {"id": v} if isinstance(v, str) else {"id": v["id"]}
            if self.mv >= (2, 3):
                d["delete_on_termination"] = False if isinstance(v, str) else bool(v.get("delete_on_termination"))
            out.append(d)
        return out

    def __call__(self, s: dict[str, Any]) -> dict[str, Any]:
        mv, sid, host = self.mv, s["id"], s["OS-EXT-SRV-ATTR:host"]
        vm, task = s["OS-EXT-STS:vm_state"], s["OS-EXT-STS:task_state"]
        deleted = s["status"] == "DELETED"
        img = s["_image"]
        image: Any = ""
        if img:
            image = {"id": img, "links": [{"rel": "bookmark", "href": f"{self.b}/images/{img}"}]}
            if mv >= (2, 98):
                image["properties"] = s.get("_image_props", EMPTY)
        out: dict[str, Any] = {
            "accessIPv4": s.get("_ip4", ""), "accessIPv6": "",
            "addresses": {} if vm == "building" or deleted else self.neutron.server_addresses(self.sim, sid),
            "created": s["created"], "flavor": self.flavor(s["_flavor"]), "hostId": self.host_id(s["tenant_id"], host),
            "id": sid, "image": image, "links": links_for(self.b, sid), "metadata": s["metadata"], "name": s["name"],
            "status": s["status"], "tenant_id": s["tenant_id"], "user_id": s["user_id"], "updated": s["updated"],
            "OS-DCF:diskConfig": "MANUAL",
        }
        if s["status"] in ("ERROR", "DELETED") and s.get("_fault"):
            code, ts, msg = s["_fault"]
            out["fault"] = {"code": code, "created": iso(ts), "message": msg}
            if code == 500:
                out["fault"]["details"] = FAULT_DETAILS
        if s["status"] in ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"):
            out["progress"] = 0
        out["OS-EXT-AZ:availability_zone"] = s["OS-EXT-AZ:availability_zone"]
        out["config_drive"] = s.get("_cd", "")
        out["key_name"] = s["key_name"]
        out["OS-SRV-USG:launched_at"] = iso_micro(s["_launched"])
        out["OS-SRV-USG:terminated_at"] = iso_micro(s.get("_terminated"))
        if not deleted:
            sgs = self.neutron.server_security_groups(self.sim, sid)
            if sgs:
                out["security_groups"] = sgs
        out["OS-EXT-SRV-ATTR:host"] = host
        out["OS-EXT-SRV-ATTR:instance_name"] = "instance-%08x" % s["_n"]
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = s["OS-EXT-SRV-ATTR:hypervisor_hostname"]
        if mv >= (2, 3):
            out["OS-EXT-SRV-ATTR:hostname"] = hostname_of(s["name"])
            out["OS-EXT-SRV-ATTR:kernel_id"] = ""
            out["OS-EXT-SRV-ATTR:launch_index"] = 0
            out["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
            out["OS-EXT-SRV-ATTR:reservation_id"] = "r-" + hashlib.md5(sid.encode()).hexdigest()[:8]
            out["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
            out["OS-EXT-SRV-ATTR:user_data"] = user_data_for(s)
        out["OS-EXT-STS:task_state"] = task
        out["OS-EXT-STS:vm_state"] = vm
        out["OS-EXT-STS:power_state"] = s["OS-EXT-STS:power_state"]
        out["os-extended-volumes:volumes_attached"] = [] if deleted else self.volumes(sid)
        if mv >= (2, 9):
            out["locked"] = bool(s.get("locked"))
        if mv >= (2, 16):
            out["host_status"] = self.host_status.get(host, "UNKNOWN") if host else ""
        if mv >= (2, 19):
            out["description"] = s.get("_desc")
        if mv >= (2, 26):
            out["tags"] = list(s["tags"])
        if mv >= (2, 63):
            out["trusted_image_certificates"] = None
        if mv >= (2, 73):
            out["locked_reason"] = s.get("_locked_reason")
        if mv >= (2, 96):
            out["pinned_availability_zone"] = s.get("_pinned_az")
        if mv >= (2, 100):
            out["scheduler_hints"] = s.get("_hints", EMPTY)
        return out


def links_for(b: str, sid: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{b}/v2.1/servers/{sid}"}, {"rel": "bookmark", "href": f"{b}/servers/{sid}"}]


def _host_status_map(sim: Simulator) -> dict[str, str]:
    from app.simulator.nova_hosts import service_is_up

    out = {}
    for svc in sim.state.values("compute_services"):
        if svc["binary"] != "nova-compute":
            continue
        if svc.get("forced_down") or not service_is_up(sim, svc):
            out[svc["host"]] = "DOWN" if svc.get("forced_down") else "UNKNOWN"
        else:
            out[svc["host"]] = "MAINTENANCE" if svc["status"] == "disabled" else "UP"
    return out


# ----------------------------------------------------------------------------------------------
# Listing


def get_server(sim: Simulator, request: Request, sid: str) -> dict[str, Any]:
    s = sim.state.get("servers", sid)
    if s is None or (not is_admin(request) and s["tenant_id"] != token(request).project_id):
        raise SimHTTPError(404, f"Instance {sid} could not be found.")
    return sim.settle(s)


def _filters(sim: Simulator, request: Request) -> list[Any]:
    q = request.query_params
    admin = is_admin(request)
    preds: list[Any] = []
    project = q.get("project_id") or q.get("tenant_id")
    if not (admin and truthy(q.get("all_tenants")) or (admin and "all_tenants" in q and q["all_tenants"] == "")):
        project = project if admin and project else token(request).project_id
    if project:
        preds.append(lambda s, p=project: s["tenant_id"] == p)
    statuses = {v.upper() for v in q.getlist("status")}
    if statuses:
        preds.append(lambda s: s["status"] in statuses)
    for param, key in (("host", "OS-EXT-SRV-ATTR:host"), ("availability_zone", "OS-EXT-AZ:availability_zone"),
                       ("flavor", "_flavor"), ("image", "_image"), ("user_id", "user_id"), ("key_name", "key_name"),
                       ("node", "OS-EXT-SRV-ATTR:hypervisor_hostname")):
        if param in q:
            preds.append(lambda s, k=key, v=q[param]: s[k] == v)
    if "name" in q:
        rx = re.compile(q["name"])
        preds.append(lambda s: rx.search(s["name"]) is not None)
    if "locked" in q:
        want = truthy(q["locked"])
        preds.append(lambda s: bool(s.get("locked")) == want)
    if "tags" in q:
        tags = set(q["tags"].split(","))
        preds.append(lambda s: tags.issubset(s["tags"]))
    if "tags-any" in q:
        tany = set(q["tags-any"].split(","))
        preds.append(lambda s: bool(tany.intersection(s["tags"])))
    if "ip" in q:
        from app.simulator import neutron

        iprx = re.compile(q["ip"])
        preds.append(lambda s: any(iprx.search(a["addr"]) for net in neutron.server_addresses(sim, s["id"]).values()
                                   for a in net if a["version"] == 4))
    for param, op in (("changes-since", "ge"), ("changes-before", "le")):
        if param in q:
            try:
                bound = iso(parse_iso(q[param]))
            except ValueError as e:
                raise SimHTTPError(400, f"Invalid input for query parameters {param}. Value: {q[param]}.") from e
            preds.append((lambda s, b=bound: s["updated"] >= b) if op == "ge" else (lambda s, b=bound: s["updated"] <= b))
    return preds


def _matching_servers(sim: Simulator, request: Request) -> tuple[tuple[list[dict[str, Any]], dict[str, int]], float]:
    """The servers a listing selects, in its order, with each id's position; and when the earliest
    pending step of a server read becomes due (for :meth:`Simulator.memo`)."""
    q = request.query_params
    preds = _filters(sim, request)
    settle = sim.settle
    items = []
    due = math.inf
    for s in reversed(sim.state.coll("servers").values()):  # newest first, as Nova sorts created_at desc
        if "_pending" in s:
            settle(s)
            due = sim.next_due(s, due)
        if all(p(s) for p in preds):
            items.append(s)
    with_deleted = "changes-since" in q or "changes-before" in q or truthy(q.get("deleted"))
    if with_deleted and is_admin(request) or ("changes-since" in q):
        dead = [s for s in sim.state.deleted.get("servers", ()) if all(p(s) for p in preds)]
        if dead:
            items.extend(dead)
            items.sort(key=lambda s: (s["created"], s["id"]), reverse=True)
    sort_key = q.get("sort_key")
    if sort_key in ("display_name", "name", "updated_at", "created_at", "vm_state", "host"):
        k = {"display_name": "name", "name": "name", "updated_at": "updated", "created_at": "created",
             "vm_state": "OS-EXT-STS:vm_state", "host": "OS-EXT-SRV-ATTR:host"}[sort_key]
        items.sort(key=lambda s: (s[k] or "", s["id"]), reverse=q.get("sort_dir", "desc") == "desc")
    return (items, {s["id"]: i for i, s in enumerate(items)}), due


async def list_servers(sim: Simulator, request: Request, mv: MV) -> Response:
    detail = request.url.path.rstrip("/").endswith("/detail")
    q = request.query_params
    # Nova pages with an indexed query per page; here the first page selects and orders the fleet once and
    # the pages that follow it (``marker``) reuse that while nothing changed: not a fleet scan per page.
    question = (is_admin(request), token(request).project_id,
                tuple(sorted((k, v) for k, v in q.multi_items() if k not in ("marker", "limit"))))
    items, positions = sim.memo("servers-listing", lambda: _matching_servers(sim, request), key=question,
                                fresh="marker" not in q)
    page, nxt = paginate(request, items, "servers", max_limit=1000, positions=positions)
    if detail:
        r = Renderer(sim, request, mv)
        body: dict[str, Any] = {"servers": [r(s) for s in page]}
    else:
        b = base(request)
        body = {"servers": [{"id": s["id"], "name": s["name"], "links": links_for(b, s["id"])} for s in page]}
    if nxt:
        body["servers_links"] = nxt
    return json_body(body)


async def show_server(sim: Simulator, request: Request, mv: MV) -> Response:
    s = get_server(sim, request, request.path_params["id"])
    out = Renderer(sim, request, mv)(s)
    if mv >= (2, 71):
        out["server_groups"] = []
    return json_body({"server": out})
