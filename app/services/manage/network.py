"""manage_floating_ip: Neutron floating IP create/delete/associate/disassociate. Delete, disassociate
and moving an associated address to another port need confirmation. The external network, the
instance and its port are resolved against the snapshot (an instance with several ports, or a port
with several IPv4 addresses, needs ``fixed_ip`` or ``port_id``: never a guess)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.errors import InvalidArgument
from app.resources.networks import table as networks
from app.resources.ports import fixed_ips as port_fixed_ips
from app.resources.ports import table as ports
from app.resources.servers import addresses as server_addresses
from app.resources.servers import table as _servers
from app.services.operations import Action, Call, ManagedTool, Target, load_rows, resolve
from app.services.query import live

if TYPE_CHECKING:
    from app.context import AppContext


async def _external_network(app: AppContext, ref: str | None) -> dict[str, Any]:
    if ref:
        net = await resolve(app, "networks", ref, what="network", param="floating_network_id")
        if not net.row.get("is_external"):
            raise InvalidArgument(f"Network {net.label()} is not external (router:external); floating IPs come "
                                  f"from an external network. {await _externals_hint(app)}")
        return {"network_id": net.id, "network_name": net.name}
    found = await _externals(app)
    if len(found) == 1:
        return {"network_id": found[0][0], "network_name": found[0][1]}
    if not found:
        raise InvalidArgument("No external network is in the snapshot, so there is nothing to allocate a floating IP "
                              "from; pass floating_network_id if the snapshot is behind.")
    raise InvalidArgument(f"There are {len(found)} external networks: "
                          f"{'; '.join(f'{n} ({i})' for i, n in found)}. Pass one in floating_network_id.")


async def _externals(app: AppContext) -> list[tuple[str, str]]:
    n = networks
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(n.c.id, n.c.name).where(live(n, app.cloud_name), n.c.is_external.is_(True))
                                   .order_by(n.c.name, n.c.id).limit(50))).all()
    return [(r.id, r.name) for r in rows]


async def _externals_hint(app: AppContext) -> str:
    found = await _externals(app)
    return f"External networks: {', '.join(f'{n} ({i})' for i, n in found)}." if found else ""


async def _ports_of(app: AppContext, server_id: str) -> list[tuple[str, str | None, list[str]]]:
    """(port id, network id, IPv4 addresses) of a server's live ports."""
    p, f = ports, port_fixed_ips
    async with app.db.reader() as conn:
        rows = (await conn.execute(select(p.c.id, p.c.network_id).where(live(p, app.cloud_name),
                                                                          p.c.device_id == server_id)
                                   .order_by(p.c.id))).all()
        ips = (await conn.execute(select(f.c.port_id, f.c.ip_address).where(
            f.c.cloud == app.cloud_name, f.c.port_id.in_([r.id for r in rows])))).all() if rows else []
    v4: dict[str, list[str]] = {}
    for pid, ip in ips:
        if ip and ":" not in ip:
            v4.setdefault(pid, []).append(ip)
    return [(r.id, r.network_id, sorted(v4.get(r.id, []))) for r in rows]


async def _port_choice(app: AppContext, args: Mapping[str, Any]) -> dict[str, Any]:
    """The port (and fixed IP) to map to, from port_id or instance_name (+ fixed_ip)."""
    fixed = (args.get("fixed_ip") or "").strip() or None
    if args.get("port_id"):
        port = await resolve(app, "ports", args["port_id"], what="port", param="port_id")
        owner = port.row.get("device_owner") or ""
        server_id = port.row.get("device_id") if owner.startswith("compute:") else None
        out = {"port_id": port.id, "fixed_ip": fixed, "server_id": server_id, "server_name": None}
        if args.get("instance_name"):
            server = await resolve(app, "servers", args["instance_name"], what="instance", param="instance_name")
            if server.id != server_id:
                raise InvalidArgument(f"Port {port.id} does not belong to instance {server.label()}; pass only one "
                                      "of port_id and instance_name.")
            out["server_name"] = server.name
        return out
    server = await resolve(app, "servers", args.get("instance_name"), what="instance", param="instance_name")
    found = await _ports_of(app, server.id)
    if fixed:
        match = [x for x in found if fixed in x[2]]
        if not match:
            raise InvalidArgument(f"Instance {server.label()} has no port with fixed IP {fixed}; its IPv4 addresses: "
                                  f"{', '.join(ip for x in found for ip in x[2]) or 'none'}.")
        found = match
    usable = [x for x in found if x[2]]
    if not usable:
        raise InvalidArgument(f"Instance {server.label()} has no port with an IPv4 address in the snapshot; a floating "
                              "IP needs one.")
    if len(usable) > 1 or (not fixed and len(usable[0][2]) > 1):
        listing = "; ".join(f"port {pid} on network {net}: {', '.join(ips)}" for pid, net, ips in usable)
        raise InvalidArgument(f"Instance {server.label()} has several IPv4 addresses ({listing}). Say which one: "
                              "pass fixed_ip (or port_id).")
    pid, _net, ips = usable[0]
    return {"port_id": pid, "fixed_ip": fixed or ips[0], "server_id": server.id, "server_name": server.name}


async def _prepare_create(app: AppContext, _t: Target | None, args: Mapping[str, Any]) -> dict[str, Any]:
    out = await _external_network(app, args.get("floating_network_id"))
    if args.get("port_id") or args.get("instance_name"):
        out.update(await _port_choice(app, args))
    return out


async def _prepare_associate(app: AppContext, t: Target | None, args: Mapping[str, Any]) -> dict[str, Any]:
    if not (args.get("port_id") or args.get("instance_name")):
        raise InvalidArgument("Action 'associate' of manage_floating_ip needs instance_name (or port_id).")
    out = await _port_choice(app, args)
    current = t.row.get("port_id") if t else None
    if current == out["port_id"] and (t.row.get("fixed_ip_address") if t else None) == out["fixed_ip"]:
        raise InvalidArgument(f"Floating IP {t.label() if t else ''} is already associated with port {current} "
                              f"({out['fixed_ip']}); nothing to do.")
    out["moves_from_port"] = current  # set: the address is taken away from another port (needs confirmation)
    return out


def _check_associated(t: Target | None, _a: Mapping[str, Any]) -> None:
    if t is not None and not t.row.get("port_id"):
        raise InvalidArgument(f"Floating IP {t.label()} is not associated with any port; nothing to disassociate.")


def _where(t: Target | None) -> str:
    assert t is not None
    r = t.row
    if not r.get("port_id"):
        return f"status {t.status}, not associated"
    return (f"status {t.status}, mapped to {r.get('fixed_ip_address')} on port {r.get('port_id')}"
            f"{' of instance ' + str(r['server_id']) if r.get('server_id') else ''}")


def _to(a: Mapping[str, Any]) -> str:
    who = f"instance {a.get('server_name') or a.get('server_id')}" if a.get("server_id") else "port"
    return f"{who} (port {a.get('port_id')}, fixed IP {a.get('fixed_ip') or 'chosen by Neutron'})"


def _create(c: Call) -> Any:
    a = c.args
    attrs = {"floating_network_id": a["network_id"], "port_id": a.get("port_id"),
             "fixed_ip_address": a.get("fixed_ip") if a.get("port_id") else None, "description": a.get("description")}
    return c.conn.network.create_ip(**{k: v for k, v in attrs.items() if v not in (None, "")})


def _associate(c: Call) -> Any:
    a = c.args
    attrs = {"port_id": a["port_id"], "fixed_ip_address": a.get("fixed_ip")}
    return c.conn.network.update_ip(c.target.id, **{k: v for k, v in attrs.items() if v})  # type: ignore[union-attr]


def _rows_around(c: Call, result: Any) -> dict[str, list[str]]:
    """Servers and ports whose addresses change: the old association (target row) and the new one."""
    old = c.target.row if c.target else {}
    servers = [x for x in (old.get("server_id"), c.args.get("server_id")) if x]
    port_ids = [x for x in (old.get("port_id"), c.args.get("port_id")) if x]
    return {"servers": list(dict.fromkeys(servers)), "ports": list(dict.fromkeys(port_ids))}


async def _addresses_follow(app: AppContext, fip_ids: list[str], c: Call) -> bool:
    """Nova's view agrees with Neutron's in the snapshot: each server around the change lists the floating
    address as ``floating`` exactly when the floating IP row maps it to one of that server's ports. (Nova
    updates a server's addresses from its network info cache, which catches up with Neutron a little
    after the floating IP changed.)"""
    servers = _rows_around(c, None)["servers"]
    if not servers:
        return True
    fips = await load_rows(app, "floating_ips", fip_ids)
    old = c.target.row if c.target else {}
    expected: dict[tuple[str, str], bool] = {}
    owners_of_ports: dict[str, str | None] = {}
    p, a = ports, server_addresses
    async with app.db.reader() as conn:
        port_ids = [r["port_id"] for r in fips.values() if r and r.get("port_id") and not r.get("server_id")]
        if port_ids:
            owners_of_ports = dict((await conn.execute(select(p.c.id, p.c.device_id).where(
                live(p, app.cloud_name), p.c.id.in_(port_ids)))).all())
        live_servers = set((await conn.execute(select(_servers.c.id).where(
            live(_servers, app.cloud_name), _servers.c.id.in_(servers)))).scalars())
        have = set((await conn.execute(select(a.c.server_id, a.c.ip_address).where(
            a.c.cloud == app.cloud_name, a.c.server_id.in_(servers), a.c.ip_type == "floating"))).all())
    for fid in fip_ids:
        row = fips[fid]
        addr = (row or {}).get("floating_ip_address") or (old.get("floating_ip_address") if old else None)
        if not addr:
            continue
        owner = None
        if row is not None and row.get("deleted_at") is None and row.get("port_id"):
            owner = row.get("server_id") or owners_of_ports.get(row["port_id"])
        for sid in servers:
            if sid in live_servers:
                expected[(sid, addr)] = owner == sid
    return all(((sid, addr) in have) == want for (sid, addr), want in expected.items())


def _mapped_note(row: Mapping[str, Any], _a: Mapping[str, Any]) -> str | None:
    """A floating IP is mapped once Neutron sets its port_id; ACTIVE needs an L3 agent to wire the NAT rules,
    which some clouds do not run (the status then stays DOWN): say so instead of waiting for ACTIVE."""
    if row.get("deleted_at") is None and row.get("port_id") and row.get("status") != "ACTIVE":
        return (f"Floating IP {row.get('floating_ip_address')} is mapped to port {row['port_id']} (Neutron has set "
                f"its port_id: the association is done), but Neutron reports its status as {row.get('status')}: "
                "ACTIVE needs an L3 agent to wire it, and clouds without one keep it DOWN.")
    return None


# Goals are Neutron's mapping (port_id), not status ACTIVE: the mapping is done when port_id is set, and on
# clouds without an L3 agent a floating IP stays DOWN for good (its status is reported, see _mapped_note).
ACTIONS = {
    "create": Action(
        name="create", kind="floating_ips", target=None, creates=True, prepare=_prepare_create, call=_create,
        describe=lambda _t, a: (f"Allocate a floating IP from external network {a.get('network_name') or ''} "
                                f"({a.get('network_id')})" + (f" and map it to {_to(a)}." if a.get("port_id") else ".")),
        goal=lambda a: {"port_id": (a["port_id"],)} if a.get("port_id") else {"status": ("DOWN", "ACTIVE")},
        also=_rows_around, settled=_addresses_follow, note=_mapped_note),
    "associate": Action(
        name="associate", kind="floating_ips", prepare=_prepare_associate, call=_associate,
        confirm=lambda a: bool(a.get("moves_from_port")),
        describe=lambda t, a: (f"Map floating IP {t.label() if t else '?'} to {_to(a)}"
                               + (f"; it is now {_where(t)}, which loses it." if a.get("moves_from_port") else ".")),
        goal=lambda a: {"port_id": (a.get("port_id"),)}, also=_rows_around, settled=_addresses_follow,
        note=_mapped_note),
    "disassociate": Action(
        name="disassociate", kind="floating_ips", confirm=True, check=_check_associated,
        call=lambda c: c.conn.network.update_ip(c.target.id, port_id=None),
        describe=lambda t, _a: (f"Unmap floating IP {t.label() if t else '?'} ({_where(t)}); the instance loses "
                                "this public address (the address stays allocated to the project)."),
        goal={"port_id": (None,)}, also=_rows_around, settled=_addresses_follow),
    "delete": Action(
        name="delete", kind="floating_ips", confirm=True, gone=True,
        call=lambda c: c.conn.network.delete_ip(c.target.id, ignore_missing=False),
        describe=lambda t, _a: (f"Release floating IP {t.label() if t else '?'} ({_where(t)}) back to the pool; "
                                "the address may go to someone else and cannot be reclaimed."),
        also=_rows_around, settled=_addresses_follow),
}

MANAGE_FLOATING_IP = ManagedTool(name="manage_floating_ip", what="floating IP", target_param="floating_ip_id",
                                 actions=ACTIONS, read_actions=("list",))
