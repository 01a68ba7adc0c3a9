"""A tiny Prometheus text-format registry (counters and histograms with labels), enough for
``/metrics`` without another dependency. Gauges about the snapshot (rows per kind, age, last poll
duration) are computed from the database at scrape time by ``app.http``."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Counter:
    def __init__(self, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labelnames = name, help_, labels
        self._values: dict[tuple[str, ...], float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[tuple(labels)] += amount

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.labelnames, key)} {v}"


class Histogram:
    def __init__(self, name: str, help_: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.name, self.help, self.labelnames, self.buckets = name, help_, labels, buckets
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = defaultdict(float)
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        key = tuple(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, b in enumerate(self.buckets):
                if value <= b:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[key] += value

    def count(self, *labels: str) -> int:
        c = self._counts.get(tuple(labels))
        return c[-1] if c else 0

    def total(self, *labels: str) -> float:
        """Sum of the observed values (the delta around one call is that call's value)."""
        return self._sums.get(tuple(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, counts in sorted(self._counts.items()):
            for b, c in zip(self.buckets, counts, strict=False):
                le = 'le="%s"' % b
                yield f"{self.name}_bucket{_labels(self.labelnames, key, le)} {c}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.labelnames, key, inf)} {counts[-1]}"
            yield f"{self.name}_sum{_labels(self.labelnames, key)} {self._sums[key]}"
            yield f"{self.name}_count{_labels(self.labelnames, key)} {counts[-1]}"


class Metrics:
    """Process-wide metrics of one server instance (created in the lifespan, not at import)."""

    def __init__(self) -> None:
        self.tool_calls = Counter("mcp_tool_calls_total", "MCP tool calls by tool and outcome.", ("tool", "outcome"))
        self.tool_latency = Histogram("mcp_tool_latency_seconds", "MCP tool call latency.", ("tool",))
        self.http_auth_failures = Counter("mcp_http_auth_failures_total", "HTTP requests rejected by bearer auth.")

    def render(self, extra_lines: Iterable[str] = ()) -> str:
        lines: list[str] = []
        for m in (self.tool_calls, self.tool_latency, self.http_auth_failures):
            lines.extend(m.render())
        lines.extend(extra_lines)
        return "\n".join(lines) + "\n"


def gauge_lines(name: str, help_: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    out = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        names = tuple(labels)
        out.append(f"{name}{_labels(names, tuple(labels[n] for n in names))} {value}")
    return out
