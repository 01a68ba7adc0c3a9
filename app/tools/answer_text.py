"""The text block of an answer (app/tools/answers.py): what an assistant reads first. A summary (the
result's own ``summary`` or lines derived from its fields), a freshness line, then one line per row:
``name (id): key=value ...`` (a change row leads with what changed), at most :data:`LINE_MAX` characters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic_core
from pydantic import BaseModel

LINE_MAX = 240  # characters per row line in the text block
REPORT_ROWS = 10  # rows of each secondary list shown in a report's text block

_SKIP_KEYS = frozenset({"created_at", "updated_at", "launched_at", "first_seen_at", "last_seen_at", "description",
                        "raw", "snapshot", "links", "details"})


_SPACE = re.compile(r"\s+")


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    s = v if isinstance(v, str) else str(v)
    if s.isprintable() and "  " not in s and s[:1] != " " and s[-1:] != " ":
        return s  # nothing to fold (isprintable is False for every whitespace but the ASCII space)
    return _SPACE.sub(" ", s).strip()


def _short(v: Any) -> str | None:
    """One value in a row line, or None to leave it out."""
    if v is None or v == "" or v == [] or v == {}:
        return None
    if isinstance(v, (str, int, float, bool)):
        return _scalar(v)
    if isinstance(v, Mapping):
        for key in ("message", "name", "ip_address", "id"):
            if v.get(key) not in (None, ""):
                return _scalar(v[key])
        return None
    if isinstance(v, list):
        if all(isinstance(x, (str, int, float)) for x in v):
            return ",".join(_scalar(x) for x in v[:8]) + (f",+{len(v) - 8}" if len(v) > 8 else "")
        if all(isinstance(x, Mapping) and x.get("ip_address") for x in v):
            return ",".join(str(x["ip_address"]) for x in v[:8])
        return f"{len(v)} items"
    return None


_TITLE_KEYS = ("name", "hypervisor_hostname", "floating_ip_address", "binary", "kind", "id")


_DIFF_KEYS = ("before", "after")
_DIFF_FIRST = ("status", "task_state", "host", "flavor_name", "size", "attachments")


def _diff(before: Any, after: Any) -> list[str]:
    """A change row's values (``before``/``after``, app/services/changes.py) as text, the columns an
    operator looks at first leading: ``status ACTIVE->ERROR`` (changed), ``status=ACTIVE`` (created),
    ``status was ACTIVE`` (deleted)."""
    b = before if isinstance(before, Mapping) else {}
    a = after if isinstance(after, Mapping) else {}
    keys = sorted(dict.fromkeys([*a, *b]), key=lambda k: (_DIFF_FIRST.index(k) if k in _DIFF_FIRST else len(_DIFF_FIRST)))
    out = []
    for k in keys:
        old, new = _short(b.get(k)), _short(a.get(k))
        if a and b:
            out.append(f"{k} {old or '-'}->{new or '-'}")
        elif new is not None or old is not None:
            out.append(f"{k}={new}" if a else f"{k} was {old}")
    return out


def row_line(row: Mapping[str, Any]) -> str:
    """``name (id): key=value ...`` for one row, at most :data:`LINE_MAX` characters. A change row (with
    ``before``/``after`` values) says what changed right after its title."""
    title_key = next((k for k in _TITLE_KEYS if row.get(k) not in (None, "")), None)
    title = _scalar(row[title_key]) if title_key else "-"
    head = title
    if title_key != "id" and row.get("id") not in (None, ""):
        head += f" ({row['id']})"
    parts = []
    if isinstance(row.get("before"), Mapping) or isinstance(row.get("after"), Mapping):
        change = row.get("change")
        diff = ", ".join(_diff(row.get("before"), row.get("after")))
        parts = [f"{change}: {diff};" if isinstance(change, str) and change else f"{diff};"]
    for k, v in row.items():
        if k in _SKIP_KEYS or k == title_key or k == "id" or k.endswith("_at") or (k.endswith("_id") and k != "project_id"):
            continue
        if parts and (k in _DIFF_KEYS or k == "change"):
            continue
        s = _short(v)
        if s is not None:
            parts.append(f"{k}={s}")
    line = head + (": " + " ".join(parts) if parts else "")
    return line if len(line) <= LINE_MAX else line[:LINE_MAX - 3] + "..."


# Row lines by the row's JSON: a line is a function of its row alone, and rows come back (the change
# log's rows never change; pages and reports are asked for again). Bounded by the bytes it holds.
LINE_MEMO_BYTES = 4 * 1024 * 1024
_ROW_MEMO_MAX = 4096  # bytes of JSON: larger rows are not kept
_lines_memo: dict[bytes, str] = {}
_lines_memo_bytes = 0


def line_and_size(row: Mapping[str, Any]) -> tuple[str, int]:
    """:func:`row_line` of ``row`` (kept by its JSON) and the bytes of its compact JSON."""
    global _lines_memo_bytes
    raw = pydantic_core.to_json(row)
    line = _lines_memo.get(raw)
    if line is None:
        line = row_line(row)
        if len(raw) <= _ROW_MEMO_MAX:
            _lines_memo[raw] = line
            _lines_memo_bytes += len(raw) + len(line)
            while _lines_memo_bytes > LINE_MEMO_BYTES and _lines_memo:  # oldest first
                old = next(iter(_lines_memo))
                _lines_memo_bytes -= len(old) + len(_lines_memo.pop(old))
    return line, len(raw)


def _freshness(snap: Any) -> str | None:
    if not isinstance(snap, Mapping):
        return None
    if snap.get("missing"):
        return f"Not synced yet (absent, not zero): {', '.join(snap['missing'])}."
    if snap.get("superseded"):
        return (f"Answer kept from before the latest sync: data as of {snap.get('as_of')} ({snap.get('age_seconds')} s "
                "old), being computed again now: call again in a few seconds for the newest.")
    if snap.get("stale"):
        return f"Snapshot is stale (oldest data as of {snap.get('as_of')}): check get_sync_status."
    if snap.get("as_of") is not None:
        return f"Snapshot as of {snap['as_of']} ({snap.get('age_seconds')} s old)."
    return None


def _paging(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Where a result keeps its paging fields: at the top (PageInfo results) or in a ``page`` object."""
    page = data.get("page")
    return page if isinstance(page, Mapping) and "returned" in page else data


def items_field(model: type[BaseModel] | None, data: Mapping[str, Any]) -> str | None:
    """The list field holding a page's rows: a model's ``__items__``, else (for paged results) the
    first field holding a list of objects."""
    name = getattr(model, "__items__", None) if model is not None else None
    if isinstance(name, str):
        return name
    if "returned" not in _paging(data) or "total" not in _paging(data):
        return None
    lists = [k for k, v in data.items()
             if isinstance(v, list) and k not in ("not_found", "incomplete") and (not v or isinstance(v[0], Mapping))]
    # the rows are the list as long as `returned` (the last such: a result may lead with short lists of
    # counts, e.g. get_changes' per-kind counts before its page of changes)
    sized = [k for k in lists if len(data[k]) == _paging(data).get("returned")]
    return sized[-1] if sized else (lists[0] if lists else None)


def header_lines(data: Mapping[str, Any], items: str | None) -> list[str]:
    """The summary lines: the result's own ``summary`` if it has one, else derived from its fields."""
    lines: list[str] = []
    summary = data.get("summary")
    if isinstance(summary, str) and summary:
        lines.append(summary)
    elif items is not None:
        pg = _paging(data)
        lines.append(f"{pg.get('returned')} of {pg.get('total')} {items.replace('_', ' ')}"
                     + (f" from offset {pg['offset']}" if pg.get("offset") else "") + ".")
    else:
        for k, v in data.items():
            if k in ("snapshot",) or isinstance(v, (list, Mapping)):
                continue
            s = _short(v)
            if s is not None:
                lines.append(f"{k}: {s}")
        for k, v in data.items():
            if isinstance(v, Mapping) and k != "snapshot":
                lines.append(f"{k}: {line_and_size(v)[0]}")
            elif isinstance(v, list) and v and k not in ("score_rules",):
                lines.append(f"{k} ({len(v)}):")
                lines += ["  " + (line_and_size(x)[0] if isinstance(x, Mapping) else _scalar(x)) for x in v[:REPORT_ROWS]]
                if len(v) > REPORT_ROWS:
                    lines.append(f"  ... {len(v) - REPORT_ROWS} more in the structured content")
    if data.get("not_found"):
        lines.append(f"Not found: {', '.join(map(str, data['not_found']))}.")
    pg = _paging(data)
    if items is not None and pg.get("has_more"):
        nxt = pg.get("next_offset") or (pg.get("offset", 0) + pg.get("returned", 0))
        lines.append(f"More: call again with offset={nxt}.")
    fresh = _freshness(data.get("snapshot"))
    if fresh:
        lines.append(fresh)
    return lines
