"""``serve --type streamable-http`` on a port it cannot take stops at once with one clear line on
stderr and a non-zero exit code: the socket is bound before the database, the cloud connection's
poller or the MCP app start, so nothing half-started logs tracebacks on the way down."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from app.simulator.core import Simulator
from tests.transport.test_transports import server_env


def _serve(sim: Simulator, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "serve", "--type", "streamable-http", *args],
                          env=server_env(sim, db), capture_output=True, text=True, timeout=120)


def test_port_in_use_is_one_line_and_a_nonzero_exit(sim: Simulator, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(sim, tmp_path / "taken.db", "--port", str(port))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert lines == [f"error: cannot listen on 127.0.0.1:{port}: the port is already in use (another server, or "
                     "an earlier one still running). Stop it, or choose another port with --port / FASTMCP_PORT."], \
        proc.stderr[-3000:]
    assert not (tmp_path / "taken.db").exists(), "the database was opened before the port was bound"


def test_address_not_local_is_one_line(sim: Simulator, tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is no interface's address here; the policy check allows it with the flag
    proc = _serve(sim, tmp_path / "far.db", "--host", "192.0.2.1", "--port", "0", "--allow-unauthenticated-remote")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: cannot listen on 192.0.2.1:0: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
