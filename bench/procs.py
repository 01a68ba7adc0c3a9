"""Subprocesses of a benchmark run: the simulator, the HTTP server and the measuring workers.

Every process is started in its own session and registered; :meth:`Procs.cleanup` (run at exit, on
SIGTERM/SIGINT and by the context manager) terminates each registered process group by id, then kills
what is left. Everything binds to 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPS_", "FASTMCP_", "REMOTE_"))}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


@dataclass
class Sim:
    """A simulator subprocess: where it answers and how to log in."""

    proc: subprocess.Popen[bytes]
    port: int
    servers: int
    latency: float
    startup_s: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return self.base_url + "/identity/v3"

    def os_env(self) -> dict[str, str]:
        return {
            "OS_AUTH_URL": self.auth_url, "OS_USERNAME": "admin", "OS_PASSWORD": PASSWORD,
            "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3",
        }


class WorkerFailed(RuntimeError):
    pass


class Procs:
    """Registry of the subprocesses this run started."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._n = 0
        self.on_step: Callable[[], None] | None = None  # called before each worker starts

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Procs:
        self._old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()
        for s, h in self._old.items():
            signal.signal(s, h)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.cleanup()
        raise SystemExit(128 + signum)

    def popen(self, args: list[str], name: str, env: dict[str, str] | None = None,
              stdout: Any = None) -> subprocess.Popen[bytes]:
        self._n += 1
        log = open(self.log_dir / f"{self._n:02d}-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(args, cwd=ROOT, env=env or clean_env(), stdout=stdout if stdout is not None else log,
                             stderr=log, start_new_session=True)
        p._bench_log = log  # type: ignore[attr-defined]
        p._bench_name = name  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], timeout: float = 10) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=timeout)
        log = getattr(p, "_bench_log", None)
        if log is not None:
            log.close()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self) -> None:
        for p in list(self.procs):
            try:
                self.stop(p, timeout=5)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

    # --- the processes ------------------------------------------------------------------------
    def start_simulator(self, servers: int, latency: float = 0.0, timeout: float = 600) -> Sim:
        port = free_port()
        t0 = time.perf_counter()
        p = self.popen([sys.executable, "-m", "app", "simulator", "--port", str(port), "--servers", str(servers),
                        "--transition-seconds", "1", "--latency", str(latency), "--seed", "42"],
                       f"simulator-{servers}-{latency}")
        sim = Sim(p, port, servers, latency, 0.0)
        _wait_http(sim.base_url + "/", p, timeout)
        sim.startup_s = time.perf_counter() - t0
        return sim

    def start_http_server(self, url: str, sim: Sim, cloud: str, timeout: float = 120) -> tuple[subprocess.Popen[bytes], str]:
        """``python -m app serve`` over streamable-http on the database at ``url`` (poller off,
        query_snapshot on, as in the in-process step)."""
        port = free_port()
        env = clean_env(**sim.os_env(), OPS_DATABASE_URL=url, OPS_POLLER_ENABLED="false", OPS_SQL_TOOL_ENABLED="true",
                        OPS_CLOUD_LABEL=cloud, OPS_COLD_START_WAIT="0", MCP_LOG_LEVEL="WARNING")
        p = self.popen([sys.executable, "-m", "app", "serve", "--type", "streamable-http", "--host", "127.0.0.1",
                        "--port", str(port), "--no-poller"], "http-server", env=env)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", p, timeout)
        return p, base

    def start_worker(self, args: list[str], name: str, db_url: str | None = None) -> subprocess.Popen[bytes]:
        """``python -m bench.worker ARGS`` on the database at ``db_url`` (passed in the environment, never
        on the command line, where a password would be visible to every local user)."""
        if self.on_step is not None:  # the steps finished so far
            self.on_step()
        env = clean_env(**({"BENCH_DB_URL": db_url} if db_url else {}))
        return self.popen([sys.executable, "-m", "bench.worker", *args], name, env=env, stdout=subprocess.PIPE)

    def finish_worker(self, p: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise WorkerFailed(f"{p._bench_name} timed out after {timeout:.0f}s (log: {p._bench_log.name})") from None  # type: ignore[attr-defined]
        name, log = p._bench_name, p._bench_log.name  # type: ignore[attr-defined]
        self.stop(p)
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            tail = Path(log).read_text(errors="replace")[-3000:]
            raise WorkerFailed(f"{name} exited {p.returncode}; log {log}:\n{tail}")
        return json.loads(lines[-1])  # type: ignore[no-any-return]

    def worker(self, args: list[str], name: str, timeout: float, db_url: str | None = None) -> dict[str, Any]:
        return self.finish_worker(self.start_worker(args, name, db_url), timeout)


def _wait_http(url: str, p: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{p._bench_name} exited {p.returncode} before answering; "  # type: ignore[attr-defined]
                               f"see {p._bench_log.name}")  # type: ignore[attr-defined]
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
