"""``serve`` (the default command) and ``demo`` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    """The settings' level (MCP_LOG_LEVEL / --log-level) for our loggers and the libraries' alike."""
    from app.cli import configure_logging as configure

    configure(level)


def _bool_flag(p: argparse.ArgumentParser, name: str, help_: str) -> None:
    p.add_argument(name, action=argparse.BooleanOptionalAction, default=None, help=help_)


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR (env MCP_LOG_LEVEL)")
    p.add_argument("--type", dest="transport", choices=["stdio", "streamable-http"], default=None,
                   help="transport (env FASTMCP_TYPE; default stdio)")
    p.add_argument("--host", default=None, help="HTTP bind address (env FASTMCP_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (env FASTMCP_PORT; default 8080)")
    _bool_flag(p, "--auth-enable", "require a bearer token on HTTP (env REMOTE_AUTH_ENABLE)")
    p.add_argument("--secret-key", default=None, help="the bearer token (env REMOTE_SECRET_KEY; prefer the env)")
    _bool_flag(p, "--allow-unauthenticated-remote",
               "allow a non-loopback HTTP bind without auth (only behind an authenticating proxy)")
    _bool_flag(p, "--allow-modify-operations", "register management tools (env ALLOW_MODIFY_OPERATIONS)")
    p.add_argument("--database-url", default=None, help="snapshot database URL (env OPS_DATABASE_URL)")
    _bool_flag(p, "--poller", "run the background poller in this process (env OPS_POLLER_ENABLED)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve /metrics on this separate port without auth (env OPS_METRICS_PORT)")
    p.add_argument("--enabled-tools", default=None, help="only these tools, comma-separated (env OPS_ENABLED_TOOLS)")
    p.add_argument("--disabled-tools", default=None, help="never these tools, comma-separated (env OPS_DISABLED_TOOLS)")
    _bool_flag(p, "--read-only", "only tools annotated read-only (env OPS_READ_ONLY)")
    _bool_flag(p, "--disable-destructive", "no tool annotated destructive (env OPS_DISABLE_DESTRUCTIVE)")


def _settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    from app.config import load_settings

    return load_settings(
        log_level=args.log_level, transport=args.transport, host=args.host, port=args.port,
        auth_enable=args.auth_enable, secret_key=args.secret_key,
        allow_unauthenticated_remote=args.allow_unauthenticated_remote,
        allow_modify_operations=args.allow_modify_operations, database_url=args.database_url,
        poller_enabled=args.poller, metrics_port=args.metrics_port, enabled_tools=args.enabled_tools,
        disabled_tools=args.disabled_tools, read_only=args.read_only, disable_destructive=args.disable_destructive,
        **extra,
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="serve MCP over stdio or streamable-http (default command)")
    _server_args(p)
    p.set_defaults(func=run_serve)

    d = sub.add_parser("demo", help="start the built-in simulated cloud, sync it, and serve it (HTTP by default)")
    _server_args(d)
    d.add_argument("--servers", type=int, default=3000, help="instances in the simulated fleet")
    d.add_argument("--release", default="epoxy", help="simulated release: train, wallaby, yoga, epoxy")
    d.add_argument("--stdio", action="store_true", help="serve over stdio instead of HTTP")
    d.set_defaults(func=run_demo)


def _settings_or_exit(args: argparse.Namespace, **extra: Any) -> Any:
    from pydantic import ValidationError

    try:
        return _settings_from(args, **extra)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        return None


def run_serve(args: argparse.Namespace) -> int:
    from app.errors import OpsError

    settings = _settings_or_exit(args)
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    try:
        asyncio.run(_serve(settings))
    except (OpsError, BaseExceptionGroup) as e:
        err = ops_error_in(e)
        if err is None:
            raise
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def ops_error_in(exc: BaseException) -> Any:
    """The OpsError behind ``exc``: itself, or the first one inside an exception group (the server's
    lifespan raises inside the SDK's task groups, e.g. a cloud label held by another cloud)."""
    from app.errors import OpsError

    if isinstance(exc, OpsError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = ops_error_in(inner)
            if found is not None:
                return found
    return None


async def _serve(settings: Any) -> None:
    from app.cloud.connection import build_connection
    from app.cloud.targets import cloud_settings
    from app.http import bind_socket, check_bind_policy, serve_http
    from app.server import build_server

    for target in cloud_settings(settings):  # every served cloud (OPS_CLOUDS), else the one
        build_connection(target).close()  # fail fast, with a clear message, on missing credentials

    sock = metrics_sock = None
    if settings.transport != "stdio":
        check_bind_policy(settings)
        sock = bind_socket(settings)  # before the database and the poller start: a taken port is one line
    try:
        if sock is not None and settings.metrics_port is not None:
            metrics_sock = bind_socket(settings, metrics=True)
        mcp, state = build_server(settings)
        if sock is None:
            await mcp.run_stdio_async()
        else:
            await serve_http(mcp, settings, state, sock, metrics_sock)
    finally:
        for s in (sock, metrics_sock):
            if s is not None:
                s.close()


def run_demo(args: argparse.Namespace) -> int:
    from app.simulator.core import Simulator
    from app.simulator.runner import SimulatorServer

    print(f"Generating a simulated {args.release} cloud with {args.servers} instances...", file=sys.stderr)
    server = SimulatorServer(Simulator(servers=args.servers, release=args.release, churn_interval=20.0))
    sim = server.start()
    os.environ.update(sim.os_env())
    os.environ.pop("OS_CLOUD", None)
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-openstack-ops-demo-"))
    if args.database_url is None:
        args.database_url = f"sqlite+aiosqlite:///{data_dir / 'demo.db'}"
    if args.stdio:
        args.transport = "stdio"
    elif args.transport is None:
        args.transport = "streamable-http"
    settings = _settings_or_exit(args, cloud_name="demo")
    if settings is None:
        server.stop()
        return 2
    configure_logging(settings.log_level)
    if settings.transport == "streamable-http":
        url = f"http://{settings.host}:{settings.port}/mcp"
        snippet = {"mcpServers": {"openstack-ops-demo": {"type": "http", "url": url}}}
        print(f"\nSimulated OpenStack: {sim.auth_url} (user {sim.username} / {sim.password})", file=sys.stderr)
        print(f"MCP endpoint (streamable-http): {url}", file=sys.stderr)
        print(f"Health: http://{settings.host}:{settings.port}/readyz  Metrics: /metrics", file=sys.stderr)
        print("Client config:\n" + json.dumps(snippet, indent=2), file=sys.stderr)
        print("Try: npx @modelcontextprotocol/inspector --cli " + url + " --transport http --method tools/list\n",
              file=sys.stderr)
    try:
        from app.errors import OpsError

        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    except OpsError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    finally:
        server.stop()
    return 0
