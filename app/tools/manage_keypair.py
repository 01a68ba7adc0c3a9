"""manage_keypair: Nova keypair writes (registered only when writes are enabled). A generated
private key is returned once in the result's ``output`` and never stored, audited or logged."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_catalog as inv
from app.services.manage.keypairs import MANAGE_KEYPAIR, PRIVATE_WITHHELD, looks_private
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, ListLimit, ListOffset, Timeout, Wait, caller


async def manage_keypair(
    ctx: Context[AppContext],
    keypair_name: Annotated[str, Field(description="create/import: the new keypair's name; delete: its exact name; "
                                                   "list: name filter (may be empty).")],
    action: Annotated[str, Field(description="create, import, delete or list.")],
    public_key: Annotated[str, Field(description="import: the public key (one OpenSSH line such as 'ssh-ed25519 "
                                                 "AAAA... me@host', or a PEM certificate with key_type=x509). Never a "
                                                 "private key.")] = "",
    key_type: Annotated[str, Field(description="ssh (default) or x509 (import only).")] = "ssh",
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: ListLimit = 50,
    offset: ListOffset = 0,
) -> OperationResult:
    """Manage Nova SSH keypairs of the server's OpenStack user. Actions: create (Nova generates the key;
    the private key is in output.private_key of this one result, shown once and never stored or logged:
    hand it to the user to save), import (keypair_name + public_key; the key format is validated),
    delete (needs confirmation), list (from the snapshot: names, fingerprints, types; never key
    material). Any other action is refused.

    Nova generates keys only below compute microversion 2.92: create uses the highest microversion the
    cloud offers below 2.92 and, on a cloud that offers none, refuses and asks for import instead.
    delete first returns a preview plus a confirmation_token; show it to the user and, with their
    consent, repeat the identical call with confirmation_token."""
    if action == "list":
        return await MANAGE_KEYPAIR.read(
            caller(ctx), action, {"keypair_name": keypair_name or None, "limit": limit, "offset": offset},
            lambda app: inv.keypair_list(app, limit=limit, offset=offset, name=keypair_name or None))
    # a private key pasted by mistake is never passed on: not to OpenStack, not into the audit row
    key = PRIVATE_WITHHELD if looks_private(public_key) else (public_key or None)
    args = {"keypair_name": keypair_name, "public_key": key if action in ("create", "import") else None,
            "key_type": key_type if action != "delete" else None}
    return await MANAGE_KEYPAIR.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                    timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_keypair, title="Create, import, delete or list SSH keypairs",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
