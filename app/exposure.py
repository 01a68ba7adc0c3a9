"""Which tools a server exposes, on top of ALLOW_MODIFY_OPERATIONS (which decides whether the manage_*
modules are registered at all): OPS_ENABLED_TOOLS / OPS_DISABLED_TOOLS by name, OPS_READ_ONLY and
OPS_DISABLE_DESTRUCTIVE by the tools' own annotations, as the Kubernetes MCP servers do.

Applied once, right after registration (:func:`apply`): a hidden tool is removed from the server, so it
is absent from ``tools/list`` and a call to it is an unknown tool. A name in either list that is no
tool at all stops the server with the valid names, so a typo never silently exposes or hides the
wrong thing."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterable
from typing import Any

from mcp.server.mcpserver import MCPServer

from app.config import Settings
from app.errors import InvalidArgument

log = logging.getLogger(__name__)


def known_tool_names(modules: Iterable[str]) -> set[str]:
    """Every tool the given modules register (registered into a scratch server: nothing else runs)."""
    return set(_known(tuple(modules)))


@functools.cache
def _known(modules: tuple[str, ...]) -> frozenset[str]:
    scratch: MCPServer[Any] = MCPServer("tool-names")
    for name in modules:
        importlib.import_module(name).register(scratch)
    return frozenset(t.name for t in scratch._tool_manager.list_tools())  # noqa: SLF001 - no public list


def _check_names(settings: Settings, known: set[str]) -> None:
    for env, names in (("OPS_ENABLED_TOOLS", settings.enabled_tools), ("OPS_DISABLED_TOOLS", settings.disabled_tools)):
        unknown = sorted(set(names) - known)
        if unknown:
            raise InvalidArgument(f"{env} names no such tool: {', '.join(unknown)}. Valid tool names: "
                                  f"{', '.join(sorted(known))}.")


def hidden_by(settings: Settings, name: str, annotations: Any) -> str | None:
    """Why ``name`` is hidden (the setting that hides it), or None if it is exposed."""
    read_only = bool(getattr(annotations, "read_only_hint", False))
    destructive = bool(getattr(annotations, "destructive_hint", False)) and not read_only
    if settings.enabled_tools and name not in settings.enabled_tools:
        return "OPS_ENABLED_TOOLS"
    if name in settings.disabled_tools:
        return "OPS_DISABLED_TOOLS"
    if settings.read_only and not read_only:
        return "OPS_READ_ONLY"
    if settings.disable_destructive and destructive:
        return "OPS_DISABLE_DESTRUCTIVE"
    return None


def apply(mcp: MCPServer[Any], settings: Settings, all_modules: Iterable[str]) -> list[str]:
    """Remove the tools the settings hide from ``mcp``; returns the names removed."""
    if settings.enabled_tools or settings.disabled_tools:
        known = known_tool_names(all_modules)
        _check_names(settings, known)
    registered = {t.name: t for t in mcp._tool_manager.list_tools()}  # noqa: SLF001
    if settings.enabled_tools and not settings.allow_modify_operations:
        skipped = sorted(set(settings.enabled_tools) - set(registered))
        if skipped:
            log.warning("OPS_ENABLED_TOOLS lists %s, not registered because ALLOW_MODIFY_OPERATIONS is off",
                        ", ".join(skipped))
    removed = []
    for name, tool in sorted(registered.items()):
        why = hidden_by(settings, name, tool.annotations)
        if why is not None:
            mcp.remove_tool(name)
            removed.append(name)
    if removed:
        log.info("tools hidden by the exposure settings: %s", ", ".join(removed))
    return removed


def writes_exposed(mcp: MCPServer[Any]) -> bool:
    """Whether any tool that is not read-only is still exposed."""
    return any(not getattr(t.annotations, "read_only_hint", False) for t in mcp._tool_manager.list_tools())  # noqa: SLF001
