"""Builds the MCPServer: tools, prompts and a lifespan that owns the database, the cloud connection
and the poller (which polls only while this process holds the lease)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import MCPServer

from app import __version__, auth, exposure
from app.config import Settings

log = logging.getLogger(__name__)

READ_TOOL_MODULES: tuple[str, ...] = (
    "app.tools.snapshot",
    "app.tools.compute",
    "app.tools.monitoring",
    "app.tools.network",
    "app.tools.storage",
    "app.tools.identity",
    "app.tools.catalog",
    "app.tools.operations_log",
    "app.tools.history",
    "app.tools.quotas",
    "app.tools.instance_live",
    "app.tools.network_inventory",
    "app.tools.load_balancers",
    "app.tools.planning",
    "app.tools.snapshot_access",
    "app.tools.clouds",
)
# Registered only with OPS_SQL_TOOL_ENABLED=true.
SQL_TOOL_MODULES: tuple[str, ...] = ("app.tools.snapshot_sql",)
WRITE_TOOL_MODULES: tuple[str, ...] = (
    "app.tools.manage_instance",
    "app.tools.manage_storage",
    "app.tools.manage_network",
    "app.tools.manage_keypair",
    "app.tools.manage_image",
    "app.tools.manage_stack",
)

INSTRUCTIONS = """\
Operate an OpenStack cloud. Read tools answer from a snapshot kept fresh by a background poller:
every result carries a `snapshot` block (as_of, age_seconds, stale); mention staleness when it matters.
Start broad (get_cluster_status, monitor_resources, get_service_status), then drill down
(search_instances, get_instance_details, ...). Management tools (manage_*) exist only when writes are
enabled; destructive actions return a preview and a confirmation token first: show the preview to the
user and only confirm with their consent."""


@dataclass
class ServerState:
    """Holds what the lifespan built, for the HTTP probes that live outside MCP requests."""

    context: Any = None
    uvicorn: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


ContextFactory = Callable[[Settings], AbstractAsyncContextManager[Any]]


def build_server(settings: Settings, *, context_factory: ContextFactory | None = None,
                 state: ServerState | None = None) -> tuple[MCPServer[Any], ServerState]:
    """The configured server and its state holder. ``context_factory`` defaults to
    :func:`app.context.open_app_context` (tests may pass one bound to a simulator)."""
    from app.context import open_app_context
    from app.tools.base import publish_clouds

    factory = context_factory or open_app_context
    state = state or ServerState()

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[Any]:
        async with factory(settings) as ctx:
            state.context = ctx
            if ctx is not None:  # the `cloud` argument's enum: the labels just bound (app/tools/base.py)
                publish_clouds(mcp, ctx.labels)
            try:
                yield ctx
            finally:
                state.context = None

    mcp: MCPServer[Any] = MCPServer(
        "mcp-openstack-ops",
        title="OpenStack Ops",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level,
        # OPS_OAUTH_ISSUER: JWTs verified per caller, protected resource metadata (app/auth/)
        **auth.server_kwargs(settings, state),
    )
    modules = (READ_TOOL_MODULES + (SQL_TOOL_MODULES if settings.sql_tool_enabled else ())
               + (WRITE_TOOL_MODULES if settings.allow_modify_operations else ()))
    for name in modules:
        importlib.import_module(name).register(mcp)
    # OPS_ENABLED_TOOLS / OPS_DISABLED_TOOLS / OPS_READ_ONLY / OPS_DISABLE_DESTRUCTIVE (app/exposure.py)
    exposure.apply(mcp, settings, READ_TOOL_MODULES + SQL_TOOL_MODULES + WRITE_TOOL_MODULES)
    writes = settings.allow_modify_operations and exposure.writes_exposed(mcp)
    importlib.import_module("app.prompts").register(mcp, writes_enabled=writes)
    # resource templates (openstack://{cloud}/instances/{name_or_id}, ...) and completion/complete
    importlib.import_module("app.mcp_resources").register(mcp, state)
    return mcp, state
