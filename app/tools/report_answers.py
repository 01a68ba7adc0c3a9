"""Report answers (get_cluster_status, monitor_resources) shaped once per distinct answer.

A report's figures are computed in the background per data version (:mod:`app.services.cache`); what a
request adds is a cut of them (its arguments, the clock, the freshness). The service hands over a
:class:`~app.services.cache.ReportAnswer`: how to build the answer, and a key saying which answers of
the same entry are alike. The first request with a key builds and shapes the answer
(:func:`app.tools.answers.shape`: the row lines, the budget cut, the JSON dump: 15 ms for a page of 200
hypervisors); the next ones serve that shaped answer with the current freshness block and line
(:func:`app.tools.answers.with_snapshot`), as the answer cache does for kept answers. The shaped
answers live in the entry, so a newer data version never serves an older one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_types import CallToolResult, TextContent

from app.context import AppContext
from app.services.cache import ReportAnswer
from app.tools import answers
from app.tools.base import cloud_line, utc_aware

MEMO_ANSWERS = 4  # shaped answers kept per report entry (each within an answer budget)


def shaped(view: AppContext, answer: ReportAnswer[Any], arguments: Mapping[str, Any],
           defaults: Mapping[str, Any]) -> CallToolResult:
    """``answer`` shaped as :func:`app.tools.base.register_tool` would shape its model, within the budget of
    ``arguments`` (:func:`app.tools.answers.budget_for`). The tool returns it; the wrapper adds the cloud
    line (counted here, where the budget is applied)."""
    budget = answers.budget_for(arguments, defaults)
    lead = cloud_line(view)
    key = (answer.key, budget, lead)
    memo = answer.memo
    kept = memo.get(key)
    if kept is None:
        kept = _without_lead(answers.shape(utc_aware(answer.build()), budget=budget, lead=lead), lead)
        memo[key] = kept
        while len(memo) > MEMO_ANSWERS:
            memo.popitem(last=False)
    else:
        memo.move_to_end(key)
    # a copy with the current freshness (the wrapper prepends the cloud line to the copy)
    return answers.with_snapshot(kept, utc_aware(answer.snapshot).model_dump(mode="json"))


def _without_lead(result: CallToolResult, lead: str | None) -> CallToolResult:
    first = result.content[0] if result.content else None
    if lead and isinstance(first, TextContent) and first.text.startswith(lead + "\n"):
        result.content[0] = first.model_copy(update={"text": first.text[len(lead) + 1:]})
    return result
