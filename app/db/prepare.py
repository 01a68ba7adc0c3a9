"""What the snapshot writer makes of API objects before it compares and writes them: each object
cleaned (secrets stripped), its canonical JSON text, and whether its status means gone; and whether a
changed object's link rows differ from those of its stored version."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app import jsonio
from app.db.engine import canonical_json
from app.resources.base import ResourceSpec

THREAD_PREPARE_MIN = 200  # objects from which a page is prepared on a worker thread


@dataclass
class Prepared:
    clean: dict[str, Any]
    text: str
    gone: bool


def prepare(spec: ResourceSpec, raws: Sequence[dict[str, Any]]) -> dict[str, Prepared]:
    """id -> cleaned raw, canonical JSON text, gone?; later duplicates of an id win; objects without id
    are skipped."""
    prepared: dict[str, Prepared] = {}
    for raw in raws:
        try:
            rid = spec.row_id(raw)
        except KeyError:
            continue
        clean = spec.clean_raw(raw)
        prepared[rid] = Prepared(clean, canonical_json(clean), spec.is_gone(raw))
    return prepared


async def prepare_page(spec: ResourceSpec, raws: Sequence[dict[str, Any]]) -> dict[str, Prepared]:
    """:func:`prepare` on a worker thread when the page is big (~0.02 ms per server: the event loop, read
    tools in the same process, stays responsive). The sync runs it in the pager's prefetch, so it
    overlaps the previous page's write."""
    if len(raws) >= THREAD_PREPARE_MIN:
        return await asyncio.to_thread(prepare, spec, raws)
    return prepare(spec, raws)


def links_differ(spec: ResourceSpec, stored_text: str, clean: dict[str, Any]) -> bool:
    """The link rows of a stored row (from its raw text) differ from those of its new version."""
    before = jsonio.loads(stored_text)
    return any(child.rows(before) != child.rows(clean) for child in spec.children)
