"""The soak's MCP clients (one subprocess started by :mod:`bench.soak`): ``--clients`` sessions of the
MCP SDK's streamable-http ``Client``, spread over the server URLs, calling read tools in a loop; the
first ``--writers`` of them also make management writes (create, then confirmed delete, of volumes,
floating IPs and stacks; stop/start of instances with the two-step confirmation).

Every call is recorded: per tool and outcome counts in the final JSON line on stdout, and every failure
as one JSON line in ``--events`` (time, client, server index, tool, action, error class, message) so
that the orchestrator can classify it against its own timeline (which server was killed or stopped
when). A failed session is reopened (bounded backoff). Runs until ``--stop-file`` exists or
``--deadline`` seconds have passed; writes stop when ``--no-writes-file`` exists."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

READS: list[tuple[str, dict[str, Any]]] = [
    ("search_instances", {"search_term": "web"}),
    ("get_instances_by_status", {"status": "ERROR"}),
    ("get_instance_details", {"all_instances": True, "limit": 20}),
    ("get_cluster_status", {}),
    ("get_volume_list", {}),
    ("get_floating_ips", {}),
    ("get_network_details", {"network_name": "all"}),
    ("get_stacks", {}),
    ("get_sync_status", {}),
    ("get_service_status", {}),
    ("monitor_resources", {}),
    ("get_hypervisor_list", {}),
    ("get_volume_snapshots", {}),
    ("get_routers", {}),
]

STACK_TEMPLATE = """heat_template_version: 2018-08-31
description: soak
resources:
  noop:
    type: OS::Heat::None
"""


class CallFailed(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Recorder:
    def __init__(self, events: Path) -> None:
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency_ms: list[float] = []
        self._events = events.open("a", buffering=1)

    def ok(self, client: int, server: int, tool: str, action: str | None, ms: float, t0: float) -> None:
        self.counts[tool] += 1
        if len(self.latency_ms) < 200_000:
            self.latency_ms.append(ms)
        if tool.startswith("manage_"):  # writes are few: each one is kept for the overlap-with-sync check
            self._events.write(json.dumps({"t0": t0, "t": time.time(), "client": client, "server": server,
                                           "tool": tool, "action": action, "kind": "ok"}) + "\n")

    def fail(self, client: int, server: int, tool: str, action: str | None, kind: str, message: str,
             t0: float) -> None:
        self.counts[tool] += 1
        self.errors[kind] += 1
        self._events.write(json.dumps({"t0": t0, "t": time.time(), "client": client, "server": server, "tool": tool,
                                       "action": action, "kind": kind, "message": message[:400]}) + "\n")


def _text(result: Any) -> str:
    try:
        return str(result.content[0].text)
    except (AttributeError, IndexError):
        return repr(result)[:400]


def _ids_with_status(obj: Any, out: list[tuple[str, str]]) -> None:
    """Every {id, status} dict inside a structured result (instances of a listing)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("id"), str) and isinstance(obj.get("status"), str):
            out.append((obj["id"], obj["status"]))
        for v in obj.values():
            _ids_with_status(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _ids_with_status(v, out)


class Session:
    """One MCP client bound to one server URL. The SDK ``Client`` lives in its own task (its task groups
    cancel the task that entered them when the transport fails): calls are handed to it through a
    queue, and a dead session is replaced on the next call."""

    def __init__(self, n: int, server: int, url: str, rec: Recorder, read_timeout: float) -> None:
        self.n = n
        self.server = server
        self.url = url
        self.rec = rec
        self.read_timeout = read_timeout
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self, queue: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]]]) -> None:
        from mcp import Client

        current: asyncio.Future[Any] | None = None
        try:
            async with Client(self.url, read_timeout_seconds=self.read_timeout) as client:
                while True:
                    tool, args, current = await queue.get()
                    result = await client.call_tool(tool, args)
                    if not current.done():
                        current.set_result(result)
                    current = None
        except BaseException as e:  # noqa: BLE001 - any failure ends this session; the caller is told
            err = e if isinstance(e, Exception) else ConnectionError(f"session cancelled ({type(e).__name__})")
            for fut in [current] + [item[2] for item in _drain(queue)]:
                if fut is not None and not fut.done():
                    fut.set_exception(err)

    async def close(self) -> None:
        task, self._task, self._queue = self._task, None, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=5)

    async def call(self, tool: str, args: dict[str, Any], action: str | None = None) -> dict[str, Any]:
        """The structured result; raises CallFailed (recorded) on any failure."""
        t0 = time.time()
        try:
            if self._task is None or self._task.done() or self._queue is None:
                self._queue = asyncio.Queue()
                self._task = asyncio.create_task(self._run(self._queue))
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait((tool, args, fut))
            result = await asyncio.wait_for(fut, timeout=self.read_timeout + 5)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - transport failures come as many types (and groups)
            kind = "transport:" + _exc_name(e)
            msg = _exc_msg(e)
            await self.close()
            self.rec.fail(self.n, self.server, tool, action, kind, msg, t0)
            raise CallFailed(kind, msg) from None
        if result.is_error:
            msg = _text(result)
            self.rec.fail(self.n, self.server, tool, action, "tool_error", msg, t0)
            raise CallFailed("tool_error", msg)
        self.rec.ok(self.n, self.server, tool, action, (time.time() - t0) * 1000, t0)
        return result.structured_content or {}


def _drain(q: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def _exc_name(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup) and e.exceptions:
        return _exc_name(e.exceptions[0])
    return type(e).__name__


def _exc_msg(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup) and e.exceptions:
        return _exc_msg(e.exceptions[0])
    return f"{type(e).__name__}: {e}"[:400]


class Writer:
    """Management writes of one client: each step creates something or removes what it created."""

    def __init__(self, s: Session, rng: random.Random, ext_net: str | None) -> None:
        self.s = s
        self.rng = rng
        self.ext_net = ext_net
        self.seq = 0
        self.mine: list[tuple[str, str]] = []  # (tool, id) created by this client, not yet deleted
        self.done: Counter[str] = Counter()

    async def confirmed(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        action = str(args.get("action"))
        preview = await self.s.call(tool, args, action=action + ":preview")
        if preview.get("status") != "confirmation_required":
            return preview
        return await self.s.call(tool, {**args, "confirmation_token": preview["confirmation_token"]}, action=action)

    async def step(self) -> None:
        self.seq += 1
        tag = f"soak-{self.s.n}-{self.seq}"
        if self.mine and (len(self.mine) >= 3 or self.rng.random() < 0.5):
            tool, rid = self.mine.pop(0)
            key = {"manage_volume": "volume_name", "manage_floating_ip": "floating_ip_id",
                   "manage_stack": "stack_name"}[tool]
            await self.confirmed(tool, {"action": "delete", key: rid})
            self.done[f"{tool}:delete"] += 1
            return
        choice = self.rng.choice(["volume", "fip", "stack", "instance", "instance"])
        if choice == "volume":
            r = await self.s.call("manage_volume", {"action": "create", "volume_name": tag, "size": 1},
                                  action="create")
            self._remember("manage_volume", r)
        elif choice == "fip" and self.ext_net:
            r = await self.s.call("manage_floating_ip", {"action": "create", "floating_network_id": self.ext_net},
                                  action="create")
            self._remember("manage_floating_ip", r)
        elif choice == "stack":
            r = await self.s.call("manage_stack", {"action": "create", "stack_name": tag, "template": STACK_TEMPLATE},
                                  action="create")
            self._remember("manage_stack", r)
        else:
            listing = await self.s.call("get_instances_by_status", {"status": "ACTIVE", "limit": 50})
            found: list[tuple[str, str]] = []
            _ids_with_status(listing, found)
            if not found:
                return
            sid, _status = self.rng.choice(found)
            await self.confirmed("manage_instance", {"action": "stop", "instance_name": sid})
            await asyncio.sleep(1.0)
            await self.s.call("manage_instance", {"action": "start", "instance_name": sid}, action="start")
        self.done[choice] += 1

    def _remember(self, tool: str, result: dict[str, Any]) -> None:
        for t in result.get("targets") or []:
            if isinstance(t, dict) and t.get("id"):
                self.mine.append((tool, str(t["id"])))
                return


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    urls = a.urls.split(",")
    rec = Recorder(Path(a.events))
    stop_file, no_writes = Path(a.stop_file), Path(a.no_writes_file)
    deadline = time.monotonic() + a.deadline
    rng = random.Random(a.seed)
    writers: list[Writer] = []

    def stopping() -> bool:
        return stop_file.exists() or time.monotonic() > deadline

    async def client_loop(n: int) -> None:
        server = n % len(urls)
        s = Session(n, server, urls[server].rstrip("/") + "/mcp", rec, a.read_timeout)
        w = Writer(s, random.Random(a.seed * 1000 + n), a.ext_net or None) if n < a.writers else None
        if w is not None:
            writers.append(w)
        i = n
        next_write = time.monotonic() + a.write_every * rng.random()
        failures = 0
        try:
            while not stopping():
                try:
                    if w is not None and time.monotonic() >= next_write and not no_writes.exists():
                        next_write = time.monotonic() + a.write_every
                        await w.step()
                    else:
                        tool, args = READS[i % len(READS)]
                        i += 1
                        await s.call(tool, args)
                    failures = 0
                except CallFailed as e:
                    if e.kind.startswith("transport:"):
                        failures += 1
                        await asyncio.sleep(min(5.0, 0.25 * 2 ** min(failures, 5)))
                except Exception as e:  # noqa: BLE001 - a harness bug must show, not silently end a client
                    rec.fail(n, server, "harness", None, "harness:" + type(e).__name__, repr(e), time.time())
                    await asyncio.sleep(1.0)
                if a.pause:
                    await asyncio.sleep(a.pause)
        finally:
            await s.close()

    tasks = [asyncio.create_task(client_loop(n)) for n in range(a.clients)]
    await asyncio.wait(tasks, timeout=a.deadline + 120)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = sorted(rec.latency_ms)

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

    return {"calls": sum(rec.counts.values()), "per_tool": dict(rec.counts), "errors": dict(rec.errors),
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": lat[-1] if lat else None},
            "writes_done": dict(sum((w.done for w in writers), Counter()))}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak_clients")
    p.add_argument("--urls", required=True, help="comma-separated server base URLs")
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--write-every", type=float, default=3.0, help="seconds between one writer's write steps")
    p.add_argument("--ext-net", default="", help="external network id for floating IPs")
    p.add_argument("--events", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--no-writes-file", required=True)
    p.add_argument("--deadline", type=float, required=True)
    p.add_argument("--read-timeout", type=float, default=60.0)
    p.add_argument("--pause", type=float, default=0.0, help="seconds each client sleeps between calls")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    out = asyncio.run(main_async(a))
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
