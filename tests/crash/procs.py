"""The server as an operator runs it (``python -m app serve --type streamable-http``), as a subprocess
bound to 127.0.0.1 with the simulator's ``OS_*`` credentials; always killed at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.simulator.core import Simulator
from tests import backend

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(sim: Simulator, db: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a server process for ``sim``; ``db``: a test's database path (tests/backend.py
    maps it to the backend under test) or a database URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_",
                                                                      "ALLOW_MODIFY", "MCP_"))}
    env.update(sim.os_env())
    env.update({"OPS_DATABASE_URL": db if isinstance(db, str) else backend.database_url(db), "OPS_CLOUD_LABEL": "test",
                "MCP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


@contextlib.contextmanager
def serve(env: dict[str, str], *args: str, log: Path, host: str = "127.0.0.1",
          wait: bool = True) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``serve --type streamable-http`` on a free port; yields (process, base URL). SIGKILLed (if still
    alive) on exit."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--host", host,
             "--port", str(port), *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://{host}:{port}"
    try:
        if wait:
            deadline = time.monotonic() + 90  # a loaded 2-core machine (a full -n 2 run) may start it slowly
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"server exited {proc.returncode}: {log.read_text()[-3000:]}")
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("server did not start: " + log.read_text()[-3000:])
                time.sleep(0.1)
        yield proc, base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
