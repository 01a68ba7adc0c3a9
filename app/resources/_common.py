"""Helpers shared by the kind modules: typed column sources (timestamps, ints, bools), index
declarations and small raw-JSON utilities. Kind modules stay declarative; logic lives here."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Index

from app.resources.base import dig

Raw = dict[str, Any]
Source = Callable[[Raw], Any]


def parse_ts(value: Any) -> datetime | None:
    """An OpenStack timestamp as a naive UTC datetime (the DateTime columns' convention).

    Accepts the shapes the services use: ``2024-05-01T12:00:00Z``, ``...T12:00:00.123456``,
    ``...+00:00``/``+02:00`` offsets and Neutron agents' ``2024-05-01 12:00:00``. Naive input is
    taken as UTC. Empty or unparsable values give None rather than an invented time."""
    if value in (None, "", "-"):
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def as_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def as_float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_bool(value: Any) -> bool | None:
    """JSON booleans, and the strings some APIs use (Cinder ``bootable: "true"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on", "enabled", "up"):
        return True
    if text in ("false", "no", "0", "off", "disabled", "down"):
        return False
    return None


def ts(path: str) -> Source:
    """Column source: the timestamp at ``path`` as naive UTC."""
    return lambda raw: parse_ts(dig(raw, path))


def integer(path: str) -> Source:
    return lambda raw: as_int(dig(raw, path))


def floating(path: str) -> Source:
    return lambda raw: as_float(dig(raw, path))


def boolean(path: str) -> Source:
    return lambda raw: as_bool(dig(raw, path))


def text(path: str) -> Source:
    """The value at ``path`` as a string (ids that are ints on old microversions), None if absent."""

    def get(raw: Raw) -> str | None:
        v = dig(raw, path)
        return None if v is None or v == "" else str(v)

    return get


def first(*paths: str) -> Source:
    """The first non-empty value among ``paths`` (fields renamed across releases)."""

    def get(raw: Raw) -> Any:
        for p in paths:
            v = dig(raw, p)
            if v not in (None, ""):
                return v
        return None

    return get


SEARCH_TEXT_MAX = 1024


def lowered(*sources: str | Source) -> Source:
    """A normalized search column: the given values lowercased and joined by spaces.

    Substring search (``search_text LIKE '%term%'`` with a lowercased term) then needs no
    per-row function call and can scan the narrow ``(cloud, search_text)`` index instead of the
    wide table with its raw JSON."""

    def get(raw: Raw) -> str | None:
        parts: list[str] = []
        for s in sources:
            v = s(raw) if callable(s) else dig(raw, s)
            if isinstance(v, (list, tuple)):
                parts.extend(str(x) for x in v if x not in (None, ""))
            elif v not in (None, ""):
                parts.append(str(v))
        return " ".join(parts).lower()[:SEARCH_TEXT_MAX] or None

    return get


def cloud_indexes(table: str, *columns: str, then: Mapping[str, tuple[str, ...]] | None = None) -> list[Index]:
    """One ``(cloud, <column>)`` index per column: the shape every filter/sort/group/join query uses
    (every query is scoped to one cloud label). In a snapshot table they become partial indexes over
    live rows (``WHERE deleted_at IS NULL``, see :func:`app.resources.base.snapshot_table`); in a link
    table (no tombstones) they are plain.

    ``then``: trailing columns for some of these indexes (same index name), so a filter on the column
    plus the hot query's ORDER BY or second test is one index range walk, index-only: e.g.
    ``{"status": ("name",)}`` serves "status = X ORDER BY name" and counts per status."""
    then = then or {}
    out = []
    for c in columns:
        cols = ("cloud", c, *then.get(c, ()))
        out.append(Index(f"ix_{table}_cloud_{c}", *cols, info={"cloud_columns": cols}))
    return out


def ip_sort_key(address: Any) -> str | None:
    """An IP address as a key whose text order is numeric order: the IP version, then the address as
    32 hex digits (so ``10.0.0.49`` < ``10.0.0.119``, IPv4 before IPv6). Unparsable text sorts after
    every address ("9" + text); no address gives None. Migration 0010 has a copy (it backfills)."""
    if address is None or address == "":
        return None
    text = str(address).strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return ("9" + text)[:40]
    return f"{ip.version}{int(ip):032x}"


def stable_id(*parts: Any) -> str:
    """A deterministic 40-hex id for objects without an upstream id (role assignments, services)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def unwrap(key: str) -> Callable[[Raw], Raw]:
    """For list items wrapped in a single key (Nova keypairs: ``{"keypair": {...}}``); a GET body that
    is already unwrapped passes through."""

    def get(raw: Raw) -> Raw:
        inner = raw.get(key)
        return inner if isinstance(inner, dict) else raw

    return get


def items(value: Any) -> Iterable[Any]:
    """Iterate a list-valued field that may be missing or null."""
    return value if isinstance(value, list) else ()
