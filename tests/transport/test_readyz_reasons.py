"""/readyz over HTTP says why the server is not ready: with a wrong password the server starts and
runs (reads answer, saying what is unknown), and /readyz answers 503 with a JSON body naming the kinds
and the OpenStack error their sync runs recorded."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.simulator.core import Simulator
from tests.transport.test_transports import free_port, server_env


def test_readyz_gives_the_reason_for_a_wrong_password(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    env = server_env(sim, tmp_path / "pw.db", OS_PASSWORD="wrong-password-123", OPS_COLD_START_WAIT="0")
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        body: dict = {}
        while time.monotonic() < deadline:  # wait for a state (the first failed runs), not for an instant
            try:
                r = httpx.get(base + "/readyz", timeout=5)
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.2)
                continue
            body = r.json()
            assert r.status_code == 503, body
            failed = {k for g in body.get("reasons", []) if g["state"] == "failed" for k in g["kinds"]}
            if {"servers", "hypervisors", "flavors"} <= failed:
                break
            time.sleep(0.2)
        assert body.get("ready") is False, body
        failed = [g for g in body["reasons"] if g["state"] == "failed"]
        assert failed and all("answered 401 (Unauthorized) for user admin" in g["error"] for g in failed), body
        assert "answered 401 (Unauthorized) for user admin" in body["reason"] and "no sync has succeeded" in body["reason"]
        assert "wrong-password-123" not in r.text
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200  # the process itself is fine
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
