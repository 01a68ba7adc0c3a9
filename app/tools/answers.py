"""Answers shaped for assistants (issue 10; docs/answers.md): every tool result goes through
:func:`shape` (called by :func:`app.tools.base.register_tool`), which

- dumps the result model once (``structuredContent``: the full data, for programs),
- writes a compact human-readable text block (``content``: a few summary lines, then one line per
  row of a list), not a second pretty-printed copy of the JSON: the result's own ``summary`` string
  when it has one, else lines derived from its fields (:mod:`app.tools.answer_text`);
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
from collections.abc import Mapping
from typing import Any

import pydantic_core
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from app.services import budget as budgets
from app.tools.answer_text import LINE_MAX, _freshness, _paging, header_lines, items_field, line_and_size, row_line

__all__ = ["DEFAULT_BUDGET", "LINE_MAX", "MAX_BUDGET", "answer_size", "budget_for", "flat_schema", "row_line", "shape",
           "snapshot_kinds", "with_snapshot"]

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

# --------------------------------------------------------------------------------------------
# output schemas


ROW_NOTE = ("Each row is an object described by $defs/{name} (documentation: rows are not validated one by one, "
            "see docs/answers.md).")
OBJECT_NOTE = "An object described by $defs/{name} (documentation: not validated field by field, see docs/answers.md)."


def flat_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``anyOf [X, {type: null}]`` folded into ``X`` with ``type: [T, "null"]`` and
    ``title`` keys removed: what a client validates is the answer's envelope, its top-level fields.

    A nested model (a list of them: a page's rows, a report's evidence; or one: the ``snapshot``
    freshness block, a report's sections) is published as ``type: array`` or ``type: object`` without
    its fields: its schema stays, flattened, in ``$defs`` under the model's name, and the field's
    description points to it. The MCP client revalidates every result against the output schema in
    pure Python (jsonschema), at a cost proportional to the fields it walks: 17 ms for a default page
    of 50 instances with row schemas, 50 ms for 200, against 0.2 ms for the envelope alone (measured
    at 10,000 instances), and 1.1 ms for get_cluster_status' nested sections (at 50,000). The answers
    are built from the same models, so validating them field by field proves nothing a client needs;
    the documentation of every field is kept. Other local ``$ref`` (enumerations) are inlined."""
    defs = schema.get("$defs", {})
    recursive: set[str] = set()
    documented: dict[str, Any] = {}  # model name -> its flattened schema (rows and nested objects)

    def document(name: str, stack: tuple[str, ...], fields: dict[str, Any], note: str) -> dict[str, Any]:
        """``fields`` of a node whose model ``name`` goes to ``$defs``, its description pointing there."""
        if name not in documented:
            documented[name] = None  # placeholder while it resolves (a model that holds itself)
            documented[name] = resolve(defs[name], (*stack, name))
        desc = fields.get("description")
        return {**fields, "description": f"{desc} {note}" if desc else note}

    def row_list(node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any] | None:
        """An array of ``$ref`` objects as a plain array whose description names its row schema."""
        items = node.get("items")
        ref = items.get("$ref") if isinstance(items, dict) else None
        if node.get("type") != "array" or not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return None
        name = ref[len("#/$defs/"):]
        if name in stack or name not in defs or defs[name].get("type") != "object":
            return None
        out = {k: resolve(v, stack) for k, v in node.items() if k not in ("items", "title")}
        return document(name, stack, out, ROW_NOTE.format(name=name))

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
            if name in defs and defs[name].get("type") == "object":  # a nested model: documented, not walked
                siblings = {k: resolve(v, stack) for k, v in node.items() if k != "$ref"}
                return document(name, stack, {**siblings, "type": "object"}, OBJECT_NOTE.format(name=name))
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
                if "$defs/" in str(other.get("description")) and out.get("description"):  # keep the pointer
                    merged["description"] = f"{out['description']} {other['description']}"
                merged["type"] = [t, "null"]
                if "enum" in merged and None not in merged["enum"]:
                    merged["enum"] = [*merged["enum"], None]
                if "const" in merged:
                    merged["enum"] = [merged.pop("const"), None]
                return merged
        return out

    flat = resolve(schema, ())
    kept = {k: v for k, v in defs.items() if k in recursive}
    kept.update({k: v for k, v in documented.items() if v is not None})
    if kept:
        flat["$defs"] = kept
    return flat


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


def _row_lines(rows: list[Any]) -> tuple[list[str], list[int]]:
    """Each row's text line and its JSON size in bytes."""
    pairs = [line_and_size(r) for r in rows]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _answer_bytes(data: dict[str, Any], items: str, sizes: list[int], text: str) -> int:
    """:func:`answer_size` of ``data`` (whose ``items`` list holds rows of JSON sizes ``sizes``) and
    ``text``, exact without serializing the rows again: compact JSON writes a list as ``[`` its items
    joined by ``,`` ``]``, each item as it does alone."""
    return _size({**data, items: []}) + sum(sizes) + max(len(sizes) - 1, 0) + len(text.encode())


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
    lines, sizes = _row_lines(rows) if isinstance(rows, list) else ([], [])
    text = "\n".join(head + lines)
    total = _answer_bytes(data, items, sizes, text) if isinstance(rows, list) else _size(data) + len(text.encode())
    if total > budget - FRESHNESS_SLACK and isinstance(rows, list) and len(rows) > 1:
        data, text = _truncate(data, items, rows, lines, sizes, budget, lead)  # type: ignore[arg-type]
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


def _truncate(data: dict[str, Any], items: str, rows: list[Any], lines: list[str], sizes: list[int],
              budget: int, lead: str | None = None) -> tuple[dict[str, Any], str]:
    """Keep the longest prefix of ``rows`` that fits ``budget`` with its text (at least one row):
    estimated from the rows' sizes (``sizes``: bytes of JSON), then measured, and fewer rows while the
    measure is over."""
    cost = [n + 1 + len(ln.encode()) + 1 for n, ln in zip(sizes, lines)]
    offset = int(_paging(data).get("offset") or 0)

    def build(keep: int) -> tuple[dict[str, Any], str]:
        out = _with_page(data, items, rows[:keep], returned=keep, has_more=True, truncated=True,
                         next_offset=offset + keep)
        note = (f"Truncated to {keep} of the {len(rows)} rows asked for, to keep this answer under "
                f"{budget:,} bytes (~{budget // 4:,} tokens): call again with offset={offset + keep} for the "
                "rest, or narrow the question (filters, a smaller limit, less detail).")
        head = ([lead] if lead else []) + header_lines(out, items)
        return out, "\n".join([*head, note, *lines[:keep]])

    def measure(out: dict[str, Any], text: str) -> int:
        return _answer_bytes(out, items, sizes[:len(out[items])], text)

    room = budget - FRESHNESS_SLACK
    keep, used = 0, measure(*build(0)) + 64  # digits of the final counts
    for c in cost:
        if used + c > room:
            break
        used += c
        keep += 1
    keep = max(keep, 1)
    out, text = build(keep)
    while keep > 1 and (over := measure(out, text) - room) > 0:
        drop = 0
        while over > 0 and drop < keep - 1:  # the rows at the end that pay for the overshoot
            over -= cost[keep - 1 - drop]
            drop += 1
        keep -= max(drop, 1)
        out, text = build(keep)
    while keep < len(rows):  # the estimate's slack may leave room for another row
        more, more_text = build(keep + 1)
        if measure(more, more_text) > room:
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

