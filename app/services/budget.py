"""The answer budget: what a read answer may weigh. Default answers stay under ``DEFAULT_BUDGET`` bytes of
JSON and none exceeds ``HARD_BUDGET``; past it, fewer rows or shorter values, always said (``clipped`` /
``truncated``), never silently.

:func:`bounded` fits an arbitrary JSON value (a stored raw object, a SQL row) into a byte budget: long
strings are cut (with a marker saying how long they were), long lists keep their first items (with a
marker saying how many were left out), and the limits tighten until the value fits.
"""

from __future__ import annotations

import json
from typing import Any

# Bytes as the client receives them (text + structured content, compact UTF-8 JSON), ~4 bytes a token:
# 16,000 ~ 4,000 tokens, 80,000 ~ 20,000 tokens (issue 10's "under 80 KB", which also holds read as KiB).
DEFAULT_BUDGET = 16_000
HARD_BUDGET = 80_000


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (UTF-8), the way it goes over the wire."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def clip_text(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters with a marker saying how long it was."""
    if len(text) <= n:
        return text
    return text[:n] + f"... [clipped: {len(text)} characters]"


def _shrink(value: Any, max_str: int, max_items: int, depth: int = 0) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (clip_text(value, max_str), True) if len(value) > max_str else (value, False)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>", True
    if depth > 12 and isinstance(value, (dict, list)):
        return "[clipped: nested too deep]", True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        clipped = False
        for i, (k, v) in enumerate(value.items()):
            if i >= max_items * 4:  # objects keep more keys than lists keep items
                out["..."] = f"[clipped: {len(value) - i} more keys]"
                return out, True
            out[str(k)], c = _shrink(v, max_str, max_items, depth + 1)
            clipped = clipped or c
        return out, clipped
    if isinstance(value, (list, tuple)):
        items = []
        clipped = len(value) > max_items
        for v in list(value)[:max_items]:
            item, c = _shrink(v, max_str, max_items, depth + 1)
            items.append(item)
            clipped = clipped or c
        if len(value) > max_items:
            items.append(f"[clipped: {len(value) - max_items} more items]")
        return items, clipped
    return value, False


def bounded(value: Any, budget: int = DEFAULT_BUDGET) -> tuple[Any, bool]:
    """``value`` fitted into ``budget`` bytes of JSON, and whether anything was clipped. Strings are cut
    first (to 2,000 characters, then shorter), then lists and objects keep fewer items. The last resort
    is a string saying how large the value was."""
    if json_size(value) <= budget:
        return value, False
    max_str, max_items = 2000, 200
    while max_str >= 16:
        out, _ = _shrink(value, max_str, max_items)
        if json_size(out) <= budget:
            return out, True
        max_str, max_items = max_str // 2, max(max_items // 2, 3)
    return f"[clipped: {json_size(value)} bytes of JSON, over the {budget}-byte budget]", True
