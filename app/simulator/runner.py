"""Run a :class:`Simulator` under uvicorn on 127.0.0.1, in a background thread (tests, demo, benchmarks)
or in the foreground (the ``simulator`` CLI subcommand)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from app.simulator.core import Simulator


class SimulatorServer:
    """Context manager: ``with SimulatorServer(Simulator(servers=100)) as sim: openstack.connect(**sim.connect_kwargs())``."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> Simulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self.sim.base_url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            self.sim.build_app(), log_level="warning", access_log=False, lifespan="on",
            timeout_keep_alive=30, limit_concurrency=None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="openstack-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator failed to start")
            time.sleep(0.01)
        return self.sim

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        finally:
            loop.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_forever(sim: Simulator, host: str, port: int) -> None:
    """Foreground mode for ``python -m app simulator``."""
    sim.base_url = f"http://{host}:{port}"
    uvicorn.run(sim.build_app(), host=host, port=port, log_level="warning", access_log=False)
