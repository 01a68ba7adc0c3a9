"""iter_pages fetches the next page while the caller handles the current one, and no further; errors of
the next page reach the caller after the page before it; closing the iterator early cancels the
fetch in flight. A scripted client (no HTTP): each step is driven by events, not by time."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from app.cloud.connection import Response
from app.cloud.pager import iter_pages
from app.errors import UpstreamError
from app.resources.base import Listing

LISTING = Listing(service="compute", path="/servers/detail", collection="servers")


class ScriptedCloud:
    """Answers page n (1-based) of ``pages`` when its gate is open; records requests and cancellations."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages, self.fail_at = pages, fail_at
        self.requested: list[int] = []
        self.cancelled: list[int] = []
        self.gates = {n: asyncio.Event() for n in range(1, pages + 1)}
        self.asked = {n: asyncio.Event() for n in range(1, pages + 1)}  # set once requested

    async def get_json(self, service: str, path: str, *, params: Any, microversion: Any, doing: str) -> Response:
        n = int(dict(params).get("page", "1"))
        self.requested.append(n)
        self.asked[n].set()
        try:
            await self.gates[n].wait()
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        if n == self.fail_at:
            raise UpstreamError(f"page {n} failed")
        links = [{"rel": "next", "href": f"http://x/servers/detail?page={n + 1}"}] if n < self.pages else []
        return Response(body={"servers": [{"id": f"s-{n}"}], "servers_links": links}, request_id=f"req-{n}",
                        status=200)


async def _settle() -> None:
    """Let every ready task run (a bounded number of loop turns, no wall-clock wait)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_the_next_page_is_fetched_while_the_caller_holds_the_current_one_and_no_further() -> None:
    cloud = ScriptedCloud(pages=4)
    for gate in cloud.gates.values():
        gate.set()
    seen: list[str] = []
    async with aclosing(iter_pages(cloud, LISTING, page_size=1)) as pages:  # type: ignore[arg-type]
        async for page in pages:
            seen.append(page.items[0]["id"])
            await _settle()
            # asked for the next page while this one is held, and not beyond
            assert cloud.requested == list(range(1, min(page.number + 1, 4) + 1))
    assert seen == ["s-1", "s-2", "s-3", "s-4"]


async def test_a_failing_next_page_fails_after_the_page_before_it() -> None:
    cloud = ScriptedCloud(pages=4, fail_at=3)
    for gate in cloud.gates.values():
        gate.set()
    seen: list[int] = []
    with pytest.raises(UpstreamError, match="page 3 failed"):
        async with aclosing(iter_pages(cloud, LISTING, page_size=1)) as pages:  # type: ignore[arg-type]
            async for page in pages:
                seen.append(page.number)
    assert seen == [1, 2]
    assert 4 not in cloud.requested


async def test_closing_early_cancels_the_fetch_in_flight() -> None:
    cloud = ScriptedCloud(pages=3)
    cloud.gates[1].set()  # page 2 never answers
    async with aclosing(iter_pages(cloud, LISTING, page_size=1)) as pages:  # type: ignore[arg-type]
        async for page in pages:
            assert page.number == 1
            await _settle()
            assert cloud.asked[2].is_set()
            break
    assert cloud.cancelled == [2]
    assert cloud.requested == [1, 2]
