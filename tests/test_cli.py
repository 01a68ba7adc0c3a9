"""The command line as a new user meets it: clear errors and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_", "MCP_"))}
    base.update({"OPS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "HOME": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "-m", "app", *args], env=base, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)


def test_serve_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    p = run_cli("serve", tmp_path=tmp_path)
    assert p.returncode == 2
    assert "No usable OpenStack credentials" in p.stderr and "OS_CLOUD" in p.stderr and "demo" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_invalid_settings_are_reported_not_raised(tmp_path: Path) -> None:
    p = run_cli("serve", "--port", "99999", tmp_path=tmp_path)
    assert p.returncode == 2 and "FASTMCP_PORT" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("serve", tmp_path=tmp_path, MCP_LOG_LEVEL="LOUD")
    assert p.returncode == 2 and "MCP_LOG_LEVEL" in p.stderr


def test_help_lists_every_command(tmp_path: Path) -> None:
    p = run_cli("--help", tmp_path=tmp_path)
    assert p.returncode == 0
    for command in ("serve", "demo", "simulator", "sync-once", "db"):
        assert command in p.stdout
