"""manage_floating_ip: Neutron floating IP writes (registered only when writes are enabled)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_network as inv
from app.services.manage.network import MANAGE_FLOATING_IP
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, ListLimit, ListOffset, Timeout, Wait, caller


async def manage_floating_ip(
    ctx: Context[AppContext],
    action: Annotated[str, Field(description="create, delete, associate, disassociate or list.")],
    floating_network_id: Annotated[str, Field(description="create: external network name or ID (default: the only "
                                                          "external network).")] = "",
    port_id: Annotated[str, Field(description="create/associate: the port to map to (alternative to "
                                              "instance_name).")] = "",
    floating_ip_id: Annotated[str, Field(description="delete/associate/disassociate: the floating IP's ID or address; "
                                                     "list: address filter.")] = "",
    instance_name: Annotated[str, Field(description="create/associate: the instance (exact name or ID) whose port to "
                                                    "map to.")] = "",
    fixed_ip: Annotated[str, Field(description="create/associate: which fixed IPv4 address of the instance (needed "
                                               "when it has several).")] = "",
    description: Annotated[str, Field(description="create: free-text description.")] = "",
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: ListLimit = 50,
    offset: ListOffset = 0,
) -> OperationResult:
    """Manage Neutron floating IPs. Actions: create (from floating_network_id, default the only external
    network; optionally mapped at once to instance_name or port_id), associate (floating_ip_id to
    instance_name or port_id; an instance with several IPv4 addresses needs fixed_ip), disassociate
    (floating_ip_id; needs confirmation), delete (floating_ip_id; needs confirmation), list (from the
    snapshot; floating_ip_id filters by address; paged). Any other action is refused.

    Destructive calls (delete, disassociate, and associate of an address currently mapped elsewhere)
    change nothing at first and return a preview plus a confirmation_token; show it to the user and, with
    their consent, repeat the identical call with confirmation_token. Results report the refreshed
    floating IP (status, port_id, fixed_ip_address, server_id); the instances whose addresses change are
    refreshed too. wait=true polls until ACTIVE (mapped), DOWN (unmapped) or gone."""
    if action == "list":
        return await MANAGE_FLOATING_IP.read(
            caller(ctx), action, {"floating_ip_id": floating_ip_id or None, "limit": limit, "offset": offset},
            lambda app: inv.floating_ip_list(app, limit=limit, offset=offset, status=None, associated=None,
                                             project=None, address=floating_ip_id or None))
    args = {"floating_ip_id": floating_ip_id or None, "floating_network_id": floating_network_id or None,
            "port_id": port_id or None, "instance_name": instance_name or None, "fixed_ip": fixed_ip or None,
            "description": description or None}
    return await MANAGE_FLOATING_IP.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                        timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_floating_ip, title="Create, associate, disassociate, delete or list floating IPs",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
