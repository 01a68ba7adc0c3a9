"""The total of a page whose rows are already read, counted only when the page cannot tell it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection


def page_total(conn: Connection, count: Any, returned: int, limit: int, offset: int,
               params: Mapping[str, Any] | None = None) -> int:
    """Rows in all pages: ``offset + returned`` when the page ended early with rows in it (or the first
    page is empty); otherwise ``count`` (a ``SELECT count(*)``, with its bound ``params``) runs. Saves the
    count's round trip on the usual short history or audit page."""
    if (returned and returned < limit) or (offset == 0 and not returned):
        return offset + returned
    return int(conn.execute(count, params).scalar_one())
