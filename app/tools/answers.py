"""Answers shaped for assistants (issue 10; docs/answers.md): every tool result goes through
:func:`shape` (called by :func:`app.tools.base.register_tool`), which

- dumps the result model once (``structuredContent``: the full data, for programs),
- writes a compact human-readable text block (``content``: a few summary lines, then one line per
  row of a list), not a second pretty-printed copy of the JSON: the result's own ``summary`` string
  when it has one, else lines derived from its fields;
- keeps the whole answer (text + structured bytes) within a budget: :data:`DEFAULT_BUDGET` when
  the call left the size arguments (``limit``, ``detail``, ...) at their defaults, else
  :data:`MAX_BUDGET`. A list page past it returns fewer rows with ``truncated: true``,
  ``has_more: true``, ``next_offset`` and a sentence saying how to get the rest.

:func:`flat_schema` rewrites output schemas so clients validate them cheaply: ``$ref`` inlined,
``anyOf [T, null]`` as ``type: [T, "null"]``, titles dropped, and lists of objects validated as lists
only, their row schema kept in ``$defs`` as documentation (see :func:`flat_schema`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import pydantic_core
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from app.services import budget as budgets

log = logging.getLogger(__name__)

# Bytes of one answer (text content + structured content as compact JSON), the bounds of
# app.services.budget: 16,000 (~4,000 tokens) at default sizes, 80,000 (~20,000 tokens) at any argument.
DEFAULT_BUDGET = budgets.DEFAULT_BUDGET
MAX_BUDGET = budgets.HARD_BUDGET
# Arguments that ask for a bigger answer: at their defaults the small budget applies.
# Bytes kept free under the budget: a kept answer's freshness (the snapshot block and its text line) is
# rewritten when a kept answer is served again (the answer cache), and its digits may grow.
FRESHNESS_SLACK = 64
SIZE_ARGUMENTS = ("limit", "detail", "include_all", "max_evidence", "fields", "max_rows")
LINE_MAX = 240  # characters per row line in the text block
REPORT_ROWS = 10  # rows of each secondary list shown in a report's text block

# --------------------------------------------------------------------------------------------
# output schemas


ROW_NOTE = ("Each row is an object described by $defs/{name} (documentation: rows are not validated one by one, "
            "see docs/answers.md).")


def flat_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``$ref`` inlined, ``anyOf [X, {type: null}]`` folded into ``X``
    with ``type: [T, "null"]``, and ``title`` keys removed; a recursive model keeps its ``$defs``
    (never produced by our result models).

    A list of model objects (a page's rows, a report's evidence) is published as ``type: array``
    without ``items``: its row schema stays, flattened, in ``$defs`` under the model's name and the
    list's description points to it. The MCP client revalidates every result against the output
    schema in pure Python (jsonschema), at a cost proportional to rows x fields: 17 ms for a default
    page of 50 instances, 50 ms for 200, against 0.2 ms for the envelope alone (measured at 10,000
    instances, docs/answers.md). The rows are built from the same models, so per-row validation
    proves nothing a client needs; the documentation of every field is kept."""
    defs = schema.get("$defs", {})
    recursive: set[str] = set()
    rows: dict[str, Any] = {}

    def row_list(node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any] | None:
        """An array of ``$ref`` objects as a plain array whose description names its row schema."""
        items = node.get("items")
        ref = items.get("$ref") if isinstance(items, dict) else None
        if node.get("type") != "array" or not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return None
        name = ref[len("#/$defs/"):]
        if name in stack or name not in defs or defs[name].get("type") != "object":
            return None
        if name not in rows:
            rows[name] = None  # placeholder: a row schema that lists itself stays a plain reference
            rows[name] = resolve(defs[name], (*stack, name))
        out = {k: resolve(v, stack) for k, v in node.items() if k not in ("items", "title")}
        note = ROW_NOTE.format(name=name)
        out["description"] = f"{out['description']} {note}" if out.get("description") else note
        return out

    def resolve(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(x, stack) for x in node]
        if not isinstance(node, dict):
            return node
        plain = row_list(node, stack)
        if plain is not None:
            return plain
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            if name in stack or name not in defs:
                recursive.add(name)
                return node
            target = resolve(defs[name], (*stack, name))
            siblings = {k: resolve(v, stack) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "$defs":
                continue
            if k == "title" and isinstance(v, str):
                continue
            # "properties" maps names to schemas: a property may be called "title"
            out[k] = {pk: resolve(pv, stack) for pk, pv in v.items()} if k == "properties" else resolve(v, stack)
        any_of = out.get("anyOf")
        if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
            other = next(x for x in any_of if x != {"type": "null"})
            t = other.get("type") if isinstance(other, dict) else None
            if isinstance(t, str) and "anyOf" not in other and "oneOf" not in other:
                merged = {**other, **{k: v for k, v in out.items() if k != "anyOf"}}
                merged["type"] = [t, "null"]
                if "enum" in merged and None not in merged["enum"]:
                    merged["enum"] = [*merged["enum"], None]
                if "const" in merged:
                    merged["enum"] = [merged.pop("const"), None]
                return merged
        return out

    flat = resolve(schema, ())
    kept = {k: v for k, v in defs.items() if k in recursive}
    kept.update({k: v for k, v in rows.items() if v is not None})
    if kept:
        flat["$defs"] = kept
    return flat


# --------------------------------------------------------------------------------------------
# text


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
                lines.append(f"{k}: {row_line(v)}")
            elif isinstance(v, list) and v and k not in ("score_rules",):
                lines.append(f"{k} ({len(v)}):")
                lines += ["  " + (row_line(x) if isinstance(x, Mapping) else _scalar(x)) for x in v[:REPORT_ROWS]]
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


def snapshot_kinds(result: CallToolResult) -> list[str] | None:
    """The kinds a shaped answer's freshness block names (None: no block, so not cacheable; see
    app/services/answer_cache.py)."""
    data = result.structured_content
    snap = data.get("snapshot") if isinstance(data, Mapping) else None
    kinds = snap.get("kinds") if isinstance(snap, Mapping) else None
    if not isinstance(kinds, list) or result.is_error:
        return None
    return [str(k["kind"]) for k in kinds if isinstance(k, Mapping) and "kind" in k]


def with_snapshot(result: CallToolResult, snapshot: Mapping[str, Any]) -> CallToolResult:
    """A kept answer with its freshness block (structured) and freshness line (text) as of now; the rest
    is the kept answer, never modified."""
    data = result.structured_content or {}
    old_line, new_line = _freshness(data.get("snapshot")), _freshness(snapshot)
    content = list(result.content)
    first = content[0] if content else None
    if old_line and new_line and isinstance(first, TextContent) and old_line in first.text:
        content[0] = first.model_copy(update={"text": first.text.replace(old_line, new_line, 1)})
    return CallToolResult(content=content, structured_content={**data, "snapshot": dict(snapshot)},
                          is_error=result.is_error)


def _size(obj: Any) -> int:
    return len(pydantic_core.to_json(obj))


def answer_size(result: CallToolResult) -> int:
    """Bytes of ``result`` as the client receives them: every text block (UTF-8) and the structured
    content as compact JSON."""
    text = sum(len(c.text.encode()) for c in result.content if isinstance(c, TextContent))
    return text + (_size(result.structured_content) if result.structured_content is not None else 0)


def shape(result: Any, *, budget: int, lead: str | None = None) -> CallToolResult:
    """``result`` (a pydantic model, usually) as a :class:`CallToolResult`: summary text (after the
    ``lead`` line, if any) + full structured content, within ``budget`` bytes when it is a page of
    rows. The size counted is exactly what the client receives (:func:`answer_size`)."""
    if isinstance(result, CallToolResult):
        return _with_lead(result, lead)
    if isinstance(result, BaseModel):
        model: type[BaseModel] | None = type(result)
        data = result.model_dump(mode="json")
    else:
        model = None
        data = pydantic_core.to_jsonable_python(result)
        if not isinstance(data, dict):
            return CallToolResult(content=[TextContent(text=json.dumps(data, separators=(",", ":")))])
    items = items_field(model, data)
    rows = data.get(items) if items else None
    head = ([lead] if lead else []) + header_lines(data, items)
    lines = [row_line(r) for r in rows] if isinstance(rows, list) else []
    text = "\n".join(head + lines)
    total = _size(data) + len(text.encode())
    if total > budget - FRESHNESS_SLACK and isinstance(rows, list) and len(rows) > 1:
        data, text = _truncate(data, items, rows, lines, budget, lead)  # type: ignore[arg-type]
    elif total > budget:
        log.warning("answer of %d bytes over its %d-byte budget has no rows to cut (%s)", total, budget,
                    model.__name__ if model is not None else type(result).__name__)
    return CallToolResult(content=[TextContent(text=text)], structured_content=data)


def _with_lead(result: CallToolResult, lead: str | None) -> CallToolResult:
    first = result.content[0] if result.content else None
    if lead and isinstance(first, TextContent):
        result.content[0] = first.model_copy(update={"text": f"{lead}\n{first.text}"})
    return result


def _with_page(data: dict[str, Any], items: str, rows: list[Any], **paging: Any) -> dict[str, Any]:
    out = {**data, items: rows}
    if isinstance(data.get("page"), Mapping) and "returned" in data["page"]:
        out["page"] = {**data["page"], **paging}
    else:
        out.update(paging)
    return out


def _truncate(data: dict[str, Any], items: str, rows: list[Any], lines: list[str],
              budget: int, lead: str | None = None) -> tuple[dict[str, Any], str]:
    """Keep the longest prefix of ``rows`` that fits ``budget`` with its text (at least one row):
    estimated from the rows' sizes, then measured, and fewer rows while the measure is over."""
    cost = [_size(r) + 1 + len(ln.encode()) + 1 for r, ln in zip(rows, lines)]
    offset = int(_paging(data).get("offset") or 0)

    def build(keep: int) -> tuple[dict[str, Any], str]:
        out = _with_page(data, items, rows[:keep], returned=keep, has_more=True, truncated=True,
                         next_offset=offset + keep)
        note = (f"Truncated to {keep} of the {len(rows)} rows asked for, to keep this answer under "
                f"{budget:,} bytes (~{budget // 4:,} tokens): call again with offset={offset + keep} for the "
                "rest, or narrow the question (filters, a smaller limit, less detail).")
        head = ([lead] if lead else []) + header_lines(out, items)
        return out, "\n".join([*head, note, *lines[:keep]])

    room = budget - FRESHNESS_SLACK
    fixed_data, fixed_text = build(0)
    keep, used = 0, _size(fixed_data) + len(fixed_text.encode()) + 64  # digits of the final counts
    for c in cost:
        if used + c > room:
            break
        used += c
        keep += 1
    keep = max(keep, 1)
    out, text = build(keep)
    while keep > 1 and (over := _size(out) + len(text.encode()) - room) > 0:
        drop = 0
        while over > 0 and drop < keep - 1:  # the rows at the end that pay for the overshoot
            over -= cost[keep - 1 - drop]
            drop += 1
        keep -= max(drop, 1)
        out, text = build(keep)
    while keep < len(rows):  # the estimate's slack may leave room for another row
        more, more_text = build(keep + 1)
        if _size(more) + len(more_text.encode()) > room:
            break
        keep, out, text = keep + 1, more, more_text
    return out, text


def budget_for(arguments: Mapping[str, Any], defaults: Mapping[str, Any]) -> int:
    """:data:`DEFAULT_BUDGET` when every size argument the tool has is at its default, else
    :data:`MAX_BUDGET`."""
    for name in SIZE_ARGUMENTS:
        if name in defaults and name in arguments and arguments[name] != defaults[name]:
            return MAX_BUDGET
    return DEFAULT_BUDGET

