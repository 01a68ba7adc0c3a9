"""Concurrent load over streamable-http: ``clients`` MCP sessions (raw JSON-RPC over httpx, each
initialized like a real client) calling a mix of read tools back to back for ``duration`` seconds."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx

from bench.stats import summary
from bench.tool_args import TOOL_ARGS, _fill

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _parse(r: httpx.Response, want_id: int) -> dict[str, Any]:
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        for line in r.text.splitlines():
            if line.startswith("data:"):
                msg = json.loads(line[5:].strip())
                if msg.get("id") == want_id:
                    return msg  # type: ignore[no-any-return]
        raise ValueError("no JSON-RPC response in the event stream")
    return r.json()  # type: ignore[no-any-return]


class Session:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = dict(ACCEPT)
        self.ids = itertools.count(1)

    async def initialize(self) -> None:
        rid = next(self.ids)
        r = await self.http.post(self.url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": rid, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "bench-load", "version": "1"}}})
        r.raise_for_status()
        msg = _parse(r, rid)
        if sid := r.headers.get("mcp-session-id"):
            self.headers["mcp-session-id"] = sid
        if version := msg.get("result", {}).get("protocolVersion"):
            self.headers["mcp-protocol-version"] = version
        r = await self.http.post(self.url, headers=self.headers,
                                 json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        if r.status_code >= 400:
            raise RuntimeError(f"notifications/initialized: HTTP {r.status_code}")

    async def call(self, tool: str, args: dict[str, Any]) -> str | None:
        """None on success, else a short error description."""
        rid = next(self.ids)
        r = await self.http.post(self.url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": tool, "arguments": args}})
        if r.status_code != 200:
            return f"HTTP {r.status_code}"
        msg = _parse(r, rid)
        if "error" in msg:
            return f"JSON-RPC {msg['error'].get('code')}: {str(msg['error'].get('message'))[:100]}"
        if msg.get("result", {}).get("isError"):
            return "tool error: " + str(msg["result"].get("content", [{}])[0].get("text", ""))[:100]
        return None


async def run_load(base: str, *, clients: int, duration: float, tools: list[str],
                   fill: dict[str, str]) -> dict[str, Any]:
    url = base.rstrip("/") + "/mcp"
    limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
    latencies: list[float] = []
    per_tool: dict[str, list[float]] = {t: [] for t in tools}
    errors: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        sessions = [Session(http, url) for _ in range(clients)]
        await asyncio.gather(*(s.initialize() for s in sessions))
        t_start = time.perf_counter()
        deadline = t_start + duration

        async def client_loop(n: int, s: Session) -> None:
            for i in itertools.count(n):
                if time.perf_counter() >= deadline:
                    return
                tool = tools[i % len(tools)]
                t0 = time.perf_counter()
                try:
                    err = await s.call(tool, _fill(TOOL_ARGS.get(tool, {}), fill))
                except (httpx.HTTPError, ValueError) as e:
                    err = type(e).__name__
                ms = (time.perf_counter() - t0) * 1000
                if err:
                    errors[err] = errors.get(err, 0) + 1
                else:
                    latencies.append(ms)
                    per_tool[tool].append(ms)

        await asyncio.wait_for(asyncio.gather(*(client_loop(i, s) for i, s in enumerate(sessions))),
                               timeout=duration + 120)
        elapsed = time.perf_counter() - t_start
    n_err = sum(errors.values())
    return {"clients": clients, "duration_s": elapsed, "ok": len(latencies), "errors": n_err,
            "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
            "throughput_rps": (len(latencies) + n_err) / elapsed, "latency": summary(latencies),
            "per_tool": {t: summary(v) for t, v in per_tool.items()}}
