"""One project's quotas read live from OpenStack (``get_quota(live=true)``), cached ``QUOTA_TTL`` per
project: the three sub-requests the ``project_quotas`` kind syncs (``app.resources._quotas.SOURCES``),
concurrently, for the project an operator is about to act on. A service the cloud does not offer or
refuses is reported (``unavailable``, with OpenStack's message and request id), never zeroed."""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from app.cloud.connection import http_status
from app.errors import NotPermitted, OpsError, ServiceNotOffered
from app.resources._quotas import SOURCES, QuotaSource, items_of
from app.services.instance_live import TTLCache, with_request_id

if TYPE_CHECKING:
    from app.context import AppContext

QUOTA_TTL = 60.0
CACHE_PROJECTS = 1000

Fetched = tuple[datetime, list[dict[str, Any]], dict[str, str]]
_caches: dict[int, tuple[Any, TTLCache]] = {}


def _cache_for(app: AppContext) -> TTLCache:
    """Per cloud client (weakly tied to the client's lifetime)."""
    key = id(app.cloud)
    entry = _caches.get(key)
    if entry is None or entry[0]() is not app.cloud:
        entry = (weakref.ref(app.cloud), TTLCache(QUOTA_TTL, maxsize=CACHE_PROJECTS))
        _caches[key] = entry
    return entry[1]


async def fetch_project(app: AppContext, project_id: str) -> Fetched:
    """``(when asked, resource rows, service -> why unreadable)`` for one project, the three services
    concurrently."""
    async def one(src: QuotaSource) -> list[dict[str, Any]] | str:
        try:
            resp = await app.cloud.get_json(src.proxy, src.path.format(id=project_id), params=list(src.params) or None,
                                            microversion=src.microversion,
                                            doing=f"reading the {src.service} quotas of project {project_id}")
        except (ServiceNotOffered, NotPermitted) as e:
            if http_status(e) == 401:  # our credentials refused: not a per-service answer
                raise with_request_id(e) from e.__cause__
            return str(with_request_id(e))
        except OpsError as e:
            raise with_request_id(e) from e.__cause__
        return items_of(src.service, resp.body)

    asked = datetime.now(timezone.utc).replace(tzinfo=None)
    results = await asyncio.gather(*(one(s) for s in SOURCES))
    rows: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}
    for src, r in zip(SOURCES, results):
        if isinstance(r, str):
            unavailable[src.service] = r
        else:
            rows += r
    return asked, rows, unavailable


async def cached_project(app: AppContext, project_id: str) -> tuple[Fetched, bool]:
    """``(fetch_project's answer, from the cache)``."""
    value, hit = await _cache_for(app).get_or_fetch(project_id, lambda: fetch_project(app, project_id))
    return value, hit
