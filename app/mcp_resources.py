"""MCP resources and completions: the things people name, as resource templates
(``openstack://{cloud}/instances/{name_or_id}``, volumes, networks, projects, stacks, flavors, images,
load-balancers),
each returning the stored object of that cloud (any served cloud; secrets stripped at sync, fitted to the
answer budget) as JSON; and
``completion/complete`` for those templates' parameters and for the prompts' arguments
(``investigate_instance``'s ``instance``), from the snapshot (:mod:`app.services.completion`).

The protocol completes arguments of prompts and resource templates, not of tools."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from app.auth import Caller, caller, current_caller
from app.context import AppContext
from app.errors import OpsError
from app.services import completion
from app.services.budget import DEFAULT_BUDGET, bounded
from app.services.inventory import raw_of
from app.services.scope import restricted_to
from app.services.stored_objects import name_column, stored_object

SCHEME = "openstack"
# URI segment -> (kind, what it is)
TEMPLATES: dict[str, tuple[str, str]] = {
    "instances": ("servers", "A Nova instance (server)"),
    "volumes": ("volumes", "A Cinder volume"),
    "networks": ("networks", "A Neutron network"),
    "projects": ("projects", "A Keystone project"),
    "stacks": ("stacks", "A Heat stack"),
    "flavors": ("flavors", "A Nova flavor"),
    "images": ("images", "A Glance image"),
    "load-balancers": ("load_balancers", "An Octavia load balancer"),
}
# prompt name -> argument -> kind
PROMPT_ARGUMENTS: dict[str, dict[str, str]] = {"investigate_instance": {"instance": "servers"}}


def template_uri(segment: str) -> str:
    return f"{SCHEME}://{{cloud}}/{segment}/{{name_or_id}}"


async def read_object(app: Any, kind: str, cloud: str, name_or_id: str, who: Caller | None = None) -> str:
    """The stored object as JSON text (what a resource read returns), among the rows ``who`` (the
    OAuth caller, if any) may see."""
    try:
        app = app.for_cloud(cloud)  # the view of the URI's cloud (several may be served)
        app = await restricted_to(app, who.projects if who is not None else None)
        snap, row = await stored_object(app, kind, name_or_id)
    except OpsError as e:
        raise ResourceError(e.message) from e
    raw, clipped = bounded(raw_of(row) or {}, DEFAULT_BUDGET - 1024)
    body = {"kind": kind, "id": row.id, "name": getattr(row, name_column(kind), None),
            "live": row.deleted_at is None, "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
            "deleted_at": row.deleted_at, "clipped": clipped, "raw": raw,
            "snapshot": snap.model_dump(mode="json")}
    return json.dumps(body, default=lambda v: v.isoformat() + "Z" if hasattr(v, "isoformat") else str(v))


def _reader(kind: str) -> Any:
    async def read(cloud: str, name_or_id: str, ctx: Context[AppContext]) -> str:
        return await read_object(ctx.request_context.lifespan_context, kind, cloud, name_or_id, caller(ctx))

    return read


def register(mcp: MCPServer[Any], state: Any) -> None:
    """Resource templates and the completion handler. ``state`` is the server's
    :class:`app.server.ServerState` (its ``context`` is the lifespan's AppContext while serving)."""
    for segment, (kind, what) in TEMPLATES.items():
        mcp.resource(
            template_uri(segment), name=f"{segment}_by_name_or_id", title=f"{what} by name or ID",
            description=f"{what} as the snapshot stores it (the API object, secrets stripped, long values "
                        f"clipped), with when it was last seen. name_or_id: ID (live or deleted) or exact name; "
                        "completion suggests both.",
            mime_type="application/json",
        )(_reader(kind))

    @mcp.completion()
    async def complete(ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument,
                       context: CompletionContext | None) -> Completion | None:
        app = state.context
        if app is None:
            return None
        kind = None
        if isinstance(ref, ResourceTemplateReference):
            if argument.name == "cloud":
                typed = (argument.value or "").lower()
                labels = [label for label in app.labels if typed in label.lower()]
                return Completion(values=labels, total=len(labels), has_more=False)
            chosen = (context.arguments or {}).get("cloud") if context is not None else None
            if chosen in app.labels:
                app = app.for_cloud(chosen)  # complete names in the cloud already chosen
            segment = ref.uri.split("://", 1)[-1].split("/")[1] if "://" in ref.uri else ""
            if argument.name == "name_or_id" and segment in TEMPLATES:
                kind = TEMPLATES[segment][0]
        elif isinstance(ref, PromptReference):
            kind = PROMPT_ARGUMENTS.get(ref.name, {}).get(argument.name)
        if kind is None:
            return None
        who = current_caller()
        try:
            app = await restricted_to(app, who.projects if who is not None else None)
        except OpsError:
            return None
        values, more = await completion.complete(app, kind, argument.value or "")
        return Completion(values=values, total=None, has_more=more)
