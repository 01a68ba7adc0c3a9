"""Command line: ``mcp-openstack-ops [serve|demo|sync-once|db|simulator] ...`` (``serve`` is the default).

Each subcommand lives next to the code it drives and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (``func(args) -> int``). This module only collects them, so that importing it
stays cheap and nothing is configured at import time.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.memory import limit_malloc_arenas

# Modules that provide subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "app.server_cli",
    "app.simulator.cli",
    "app.db.cli",
    "app.sync.cli",
)


def configure_logging(level: str) -> None:
    """Logs go to stderr: in stdio mode stdout is the MCP protocol wire."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Library chatter that says nothing to an operator at INFO.
    for noisy in ("alembic.runtime.plugins", "apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-openstack-ops",
        description="MCP server for OpenStack operations, answering from a cached snapshot kept fresh by a poller.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    if "serve" in commands and (not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version"))):
        argv.insert(0, "serve")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    configure_logging(getattr(args, "log_level", None) or "INFO")
    limit_malloc_arenas()  # before any thread starts (app/memory.py)
    return int(args.func(args) or 0)
