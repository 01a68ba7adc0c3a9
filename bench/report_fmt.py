"""Formatting helpers shared by the report modules (numbers, Markdown tables, the sizes of a run)."""

from __future__ import annotations

from typing import Any


def f1(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:,.{nd}f}"
    return str(v)


def ok(b: bool) -> str:
    return "**met**" if b else "**missed**"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def sizes_of(results: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return sorted(((int(k), v) for k, v in results["sizes"].items()), key=lambda kv: kv[0])
