"""Percentiles (nearest rank) and summaries of latency samples in milliseconds."""

from __future__ import annotations

import math
import statistics
from typing import Any


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "median": statistics.median(samples), "p95": pct(samples, 0.95),
            "p99": pct(samples, 0.99), "max": max(samples), "mean": statistics.fmean(samples)}
