"""manage_stack: Heat stack writes (registered only when writes are enabled)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from app.context import AppContext
from app.services import inventory_catalog as inv
from app.services.manage.stacks import MANAGE_STACK
from app.services.operations import OperationResult
from app.tools.base import register_tool
from app.tools.manage_common import ConfirmationToken, ListLimit, ListOffset, Timeout, Wait, caller


async def manage_stack(
    ctx: Context[AppContext],
    stack_name: Annotated[str, Field(description="create: the new stack's name; update/delete: exact name or ID (an "
                                                 "ambiguous name is refused); list: name filter (may be empty).")],
    action: Annotated[str, Field(description="create, update, delete or list.")],
    template: Annotated[str, Field(description="create/update: the Heat template inline, as a YAML or JSON "
                                               "string.")] = "",
    parameters: Annotated[str | dict[str, Any], Field(description="create/update: stack parameters as a JSON object "
                                                                  "(or a string holding one).")] = "",
    template_path: Annotated[str | None, Field(description="create/update: absolute path of a template file under a "
                                                           "directory the operator allowed (OPS_STACK_TEMPLATE_DIRS), "
                                                           "instead of template.")] = None,
    timeout_mins: Annotated[int | None, Field(description="create/update: Heat's timeout for the operation, "
                                                          "minutes.")] = None,
    rollback: Annotated[bool, Field(description="create: roll back (delete what was made) if creation fails.")] = False,
    confirmation_token: ConfirmationToken = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    limit: ListLimit = 50,
    offset: ListOffset = 0,
) -> OperationResult:
    """Manage Heat stacks. Actions: create (stack_name, template inline YAML/JSON or template_path,
    parameters), update (stack_name plus a new template and/or parameters; omitted ones keep their
    current values; needs confirmation), delete (needs confirmation; deletes every resource of the
    stack), list (from the snapshot, filtered by stack_name; paged). Any other action is refused.

    Templates are checked before anything is sent (valid YAML/JSON, heat_template_version, resources
    with types, parameters declared, required ones given); problems are reported with their line.
    update and delete first return a preview plus a confirmation_token; show it to the user and, with
    their consent, repeat the identical call with confirmation_token. wait=true follows the stack status
    with progress notifications until *_COMPLETE (or gone) and reports *_FAILED as an error."""
    if action == "list":
        return await MANAGE_STACK.read(
            caller(ctx), action, {"stack_name": stack_name or None, "limit": limit, "offset": offset},
            lambda app: inv.stack_list(app, limit=limit, offset=offset, status=None, project=None,
                                       name=stack_name or None))
    args = {"stack_name": stack_name, "template": template or None, "template_path": template_path,
            "parameters": parameters or None, "timeout_mins": timeout_mins,
            "rollback": rollback if action == "create" else None}
    return await MANAGE_STACK.run(caller(ctx), action, args, confirmation_token=confirmation_token, wait=wait,
                                  timeout=timeout)


def register(mcp: MCPServer[Any]) -> None:
    register_tool(mcp, manage_stack, title="Create, update, delete or list Heat stacks",
                  read_only=False, destructive=True, idempotent=False, open_world=True)
