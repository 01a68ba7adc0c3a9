"""Raw listing for a :class:`~app.resources.base.Listing`: pages of API dicts, streamed.

``iter_pages`` GETs ``listing.path`` with ``limit=page_size`` and follows the service's next link
(``<collection>_links`` rel=next for Nova/Neutron/Cinder, ``next`` for Glance, ``links.next`` for
Keystone) until there is none. The next request reuses only the *query* of the link on our own
endpoint and path (so a proxy that rewrites hosts or schemes in links cannot redirect us). The next
page is fetched (and, given ``prepare``, prepared for writing) while the caller writes the current
one, and no further: at most two pages sit in memory, never 50,000 servers. ``enrich`` sub-requests
run per object, concurrently within the client's limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.cloud.connection import CloudClient, http_status
from app.errors import NotFound, NotPermitted, ServiceNotOffered, UpstreamError
from app.resources.base import ENRICH_UNAVAILABLE, Enrich, Listing, ResourceSpec

MAX_PAGES = 100_000


@dataclass
class Page:
    number: int
    items: list[dict[str, Any]]
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # When the page's request was sent (naive UTC): its objects' observation time.
    observed_at: datetime | None = None
    # What iter_pages' ``prepare`` made of the page's items (None without one); ``items`` is then
    # empty: the prepared form is what the caller writes, and holding both doubled a page's memory.
    prepared: Any = None


PrepareItems = Callable[[list[dict[str, Any]]], Awaitable[Any]]


def next_query(body: Mapping[str, Any], collection: str) -> list[tuple[str, str]] | None:
    """The query parameters of the body's next link, or None on the last page."""
    href: str | None = None
    links = body.get(f"{collection}_links")
    if isinstance(links, list):
        href = next((lk.get("href") for lk in links if isinstance(lk, dict) and lk.get("rel") == "next"), None)
    if href is None and isinstance(body.get("next"), str):
        href = body["next"]
    if href is None and isinstance(body.get("links"), dict):
        nxt = body["links"].get("next")
        href = nxt if isinstance(nxt, str) else None
    if not href:
        return None
    return parse_qsl(urlsplit(href).query, keep_blank_values=True)


def base_params(listing: Listing, page_size: int, extra: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    params = {**listing.params, **(extra or {})}
    if listing.paginated and "limit" not in params:
        params["limit"] = str(page_size)
    return list(params.items())


def unavailable_reason(service: str, exc: Exception) -> str:
    """Why an optional sub-request did not answer, without request ids or object ids (stable from one
    sync to the next)."""
    if isinstance(exc, ServiceNotOffered):
        return f"the cloud offers no {service} service"
    if isinstance(exc, NotPermitted):
        return f"{service} refused it (403: not permitted for these credentials)"
    return f"{service} does not know it (404: API or extension missing)"


async def enrich(client: CloudClient, listing: Listing, items: list[dict[str, Any]], id_key: str = "id") -> None:
    """Run ``listing.enrich`` sub-requests for ``items`` (in place): ``raw[key] = GET path`` body, on the
    listing's service for a plain path, on the :class:`~app.resources.base.Enrich`'s own otherwise."""
    if not listing.enrich:
        return

    async def one(item: dict[str, Any], key: str, how: str | Enrich) -> None:
        e = how if isinstance(how, Enrich) else Enrich(listing.service, how, listing.microversion)
        path = e.path.format(id=item[id_key])
        try:
            resp = await client.get_json(e.service, path, params=list(e.params) or None, microversion=e.microversion,
                                         doing=f"reading {path}")
        except (NotFound, NotPermitted, ServiceNotOffered) as exc:
            if not e.optional or http_status(exc) == 401:  # our credentials refused: the listing fails
                raise
            item[key] = None
            item.setdefault(ENRICH_UNAVAILABLE, {})[key] = unavailable_reason(e.service, exc)
            return
        item[key] = resp.body

    await asyncio.gather(*(one(it, k, t) for it in items for k, t in listing.enrich.items()))


async def _fetch_page(
    client: CloudClient, listing: Listing, params: list[tuple[str, str]], number: int, doing: str, id_key: str,
    prepare: PrepareItems | None = None,
) -> tuple[Page, list[tuple[str, str]] | None]:
    """One page (enriched, and prepared when asked) and the query of the next one (None on the last page)."""
    resp = await client.get_json(listing.service, listing.path, params=params,
                                 microversion=listing.microversion, doing=doing)
    body = resp.body if isinstance(resp.body, dict) else {}
    items = body.get(listing.collection)
    if not isinstance(items, list):
        raise UpstreamError(
            f"Unexpected response while {doing}: no '{listing.collection}' list in the body.",
            request_id=resp.request_id,
        )
    await enrich(client, listing, items, id_key)
    page = Page(number=number, items=items, request_id=resp.request_id, observed_at=resp.sent_at)
    if prepare is not None:
        page.prepared = await prepare(items)
        page.items = []
    return page, (next_query(body, listing.collection) if listing.paginated and items else None)


async def iter_pages(
    client: CloudClient,
    listing: Listing,
    *,
    page_size: int,
    extra_params: Mapping[str, str] | None = None,
    id_key: str = "id",
    prepare: PrepareItems | None = None,
) -> AsyncIterator[Page]:
    """Yield every page of the listing; raises OpsError on any failure (the caller must then not
    treat the listing as complete).

    The next page is fetched while the caller handles the current one (writes it): OpenStack's time
    to answer a page overlaps the database's time to write the previous one, and so does
    ``prepare(items)`` (its result is the page's ``prepared``). At most two pages are
    held (the caller's and the next). Close the iterator (``contextlib.aclosing``) when stopping
    early: that cancels the fetch in flight."""
    params: list[tuple[str, str]] | None = base_params(listing, page_size, extra_params)
    doing = f"listing {listing.collection}"
    seen_queries: set[tuple[tuple[str, str], ...]] = set()
    number = 1
    pending: asyncio.Future[tuple[Page, list[tuple[str, str]] | None]] | None = asyncio.ensure_future(
        _fetch_page(client, listing, params, number, doing, id_key, prepare))
    try:
        while pending is not None:
            page, params = await pending
            pending, error = None, None
            if params is not None:
                key = tuple(params)
                if key in seen_queries:
                    error = UpstreamError(f"Pagination loop while {doing}: the next link repeats.")
                elif number >= MAX_PAGES:
                    error = UpstreamError(f"Gave up {doing}: more than {MAX_PAGES} pages (pagination loop?).")
                else:
                    seen_queries.add(key)
                    number += 1
                    pending = asyncio.ensure_future(
                        _fetch_page(client, listing, params, number, doing, id_key, prepare))
            yield page
            if error is not None:
                raise error
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def get_one(client: CloudClient, spec: ResourceSpec, rid: str) -> dict[str, Any] | None:
    """The raw object ``rid`` (enriched like a listed one), or None when OpenStack says 404."""
    return (await get_observed(client, spec, rid))[0]


async def get_observed(client: CloudClient, spec: ResourceSpec, rid: str) -> tuple[dict[str, Any] | None, datetime]:
    """``(raw object or None on 404, when the GET was sent)``: a 404's time orders its tombstone."""
    if not spec.get_path:
        raise UpstreamError(f"Kind {spec.kind} has no get_path; it cannot be refreshed by id.")
    path = spec.get_path.format(id=rid)
    asked = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        resp = await client.get_json(spec.listing.service, path, microversion=spec.listing.microversion,
                                     doing=f"reading {spec.kind} {rid}")
    except NotFound:
        return None, asked
    body = resp.body if isinstance(resp.body, dict) else {}
    raw = body.get(spec.get_key) if spec.get_key else body
    if not isinstance(raw, dict):
        raise UpstreamError(f"Unexpected response reading {spec.kind} {rid}.", request_id=resp.request_id)
    await enrich(client, spec.listing, [raw], spec.id_key)
    return raw, resp.sent_at or asked
