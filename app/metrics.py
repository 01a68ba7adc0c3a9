"""Prometheus metrics of one server instance, exposed at ``/metrics`` with ``prometheus_client``.

Every metric of ours is prefixed ``mcp_openstack_ops_`` (the ``openstack_`` prefix belongs to
openstack-exporter); docs/metrics.md lists them. Each :class:`Metrics` owns its own
``CollectorRegistry`` (a test process builds many servers), with the process, platform and GC
collectors of ``prometheus_client`` registered in it.

Three sources feed it:

- counters and histograms updated as things happen: tool calls (``app.tools.base``), HTTP auth
  refusals (``app.http``), sync runs (:meth:`Metrics.sync_finished`, called by ``app.sync`` through the
  observer ``app.context`` hands it) and OpenStack API calls (:meth:`Metrics.api_call`, called by
  ``app.cloud.connection.CloudClient`` the same way; lower layers never import this module);
- a :class:`SnapshotSample` read from the database at scrape time (rows per kind, last success as a
  unix timestamp, stale, lease holder and epoch), turned into metric families by
  :class:`SnapshotCollector` for that one scrape;
- constants: ``build_info``.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

PREFIX = "mcp_openstack_ops_"
CONTENT_TYPE_LATEST = CONTENT_TYPE

TOOL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
API_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
SYNC_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class LabeledCounter:
    """A ``prometheus_client`` counter called positionally (``inc("tool", "ok")``), readable back."""

    def __init__(self, registry: CollectorRegistry, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.labelnames, self._registry = name, labels, registry
        self._metric = Counter(name, help_, labels, registry=registry)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        (self._metric.labels(*labels) if labels else self._metric).inc(amount)

    def value(self, *labels: str) -> float:
        got = self._registry.get_sample_value(f"{self.name}_total", dict(zip(self.labelnames, labels, strict=True)))
        return got or 0.0


class LabeledHistogram:
    """A ``prometheus_client`` histogram called positionally (``observe(0.2, "tool")``); ``count`` and
    ``total`` read it back (the bench reads the sum's delta around one call)."""

    def __init__(self, registry: CollectorRegistry, name: str, help_: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = TOOL_BUCKETS) -> None:
        self.name, self.labelnames, self._registry = name, labels, registry
        self._metric = Histogram(name, help_, labels, registry=registry, buckets=buckets)

    def observe(self, value: float, *labels: str) -> None:
        (self._metric.labels(*labels) if labels else self._metric).observe(value)

    def _sample(self, suffix: str, labels: tuple[str, ...]) -> float:
        got = self._registry.get_sample_value(self.name + suffix, dict(zip(self.labelnames, labels, strict=True)))
        return got or 0.0

    def count(self, *labels: str) -> int:
        return int(self._sample("_count", labels))

    def total(self, *labels: str) -> float:
        """Sum of the observed values (the delta around one call is that call's value)."""
        return self._sample("_sum", labels)


@dataclass(frozen=True)
class KindSample:
    rows: int
    last_success: float | None  # unix timestamp (seconds) of the last successful full/incremental sync
    stale: bool


@dataclass(frozen=True)
class SnapshotSample:
    """What one scrape reads from the database and the poller (built by ``app.context``)."""

    kinds: Mapping[str, KindSample] = field(default_factory=dict)
    poller_enabled: bool = False
    leader: bool = False
    lease_epoch: int | None = None


class SnapshotCollector:
    """The scrape-time gauges of each served cloud's :class:`SnapshotSample` (label ``cloud``)."""

    def __init__(self, samples: Mapping[str, SnapshotSample]) -> None:
        self.samples = samples

    def collect(self) -> Iterator[Metric]:
        rows = GaugeMetricFamily(PREFIX + "snapshot_rows", "Live (not tombstoned) rows per kind in the snapshot.",
                                 labels=["kind", "cloud"])
        last = GaugeMetricFamily(PREFIX + "snapshot_last_success_timestamp_seconds",
                                 "Unix time of the last successful full or incremental sync per kind "
                                 "(absent until the kind has synced once).", labels=["kind", "cloud"])
        stale = GaugeMetricFamily(PREFIX + "snapshot_stale",
                                  "1 if the kind is stale, failed, or never synced; else 0.", labels=["kind", "cloud"])
        enabled = GaugeMetricFamily(PREFIX + "poller_enabled",
                                    "1 if this process runs a poller for the cloud (OPS_POLLER_ENABLED).",
                                    labels=["cloud"])
        leader = GaugeMetricFamily(PREFIX + "poller_leader", "1 if this process holds the cloud's poller lease; "
                                   "else 0.", labels=["cloud"])
        epoch = GaugeMetricFamily(PREFIX + "poller_lease_epoch", "Epoch (fencing number) of the cloud's poller "
                                  "lease as this process last saw it.", labels=["cloud"])
        for cloud, s in sorted(self.samples.items()):
            for kind, k in sorted(s.kinds.items()):
                rows.add_metric([kind, cloud], float(k.rows))
                if k.last_success is not None:
                    last.add_metric([kind, cloud], k.last_success)
                stale.add_metric([kind, cloud], 1.0 if k.stale else 0.0)
            enabled.add_metric([cloud], 1.0 if s.poller_enabled else 0.0)
            leader.add_metric([cloud], 1.0 if s.leader else 0.0)
            if s.lease_epoch is not None:
                epoch.add_metric([cloud], float(s.lease_epoch))
        yield from (rows, last, stale, enabled, leader)
        if epoch.samples:
            yield epoch


class _Scrape:
    """The registry plus one scrape's snapshot gauges, for ``generate_latest`` (no shared state: two
    scrapes at once each render their own sample)."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for c in self.collectors:
            yield from c.collect()


class Metrics:
    """Process-wide metrics of one server instance (created in the lifespan, not at import)."""

    def __init__(self, version: str | None = None) -> None:
        from app import __version__

        self.registry = reg = CollectorRegistry(auto_describe=True)
        # process_* (CPU, memory, fds, start time), python_info, python_gc_*: free, per instance registry.
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)
        build = Gauge(PREFIX + "build_info", "Always 1; the server's version and Python in labels.",
                      ("version", "python"), registry=reg)
        build.labels(version or __version__, platform.python_version()).set(1)

        self.tool_calls = LabeledCounter(reg, PREFIX + "tool_calls", "MCP tool calls by tool, outcome "
                                         "(ok, or the error class: NotFound, InvalidArgument, ToolError...) and "
                                         "cloud (empty: no served cloud chosen).", ("tool", "outcome", "cloud"))
        self.tool_latency = LabeledHistogram(reg, PREFIX + "tool_duration_seconds",
                                             "MCP tool call duration inside the server, by tool and cloud.",
                                             ("tool", "cloud"))
        self.http_auth_failures = LabeledCounter(
            reg, PREFIX + "http_auth_failures", "HTTP requests refused by authentication or authorization "
            "(reason: missing, invalid, insufficient_scope).", ("reason",))
        self.sync_runs = LabeledCounter(reg, PREFIX + "sync_runs", "Finished poller sync runs by kind, mode "
                                        "(full, incremental) and outcome (succeeded, failed, unavailable).",
                                        ("kind", "mode", "outcome", "cloud"))
        self.sync_duration = LabeledHistogram(reg, PREFIX + "sync_duration_seconds",
                                              "Duration of finished poller sync runs.", ("kind", "mode", "cloud"),
                                              buckets=SYNC_BUCKETS)
        self.sync_changes = LabeledCounter(reg, PREFIX + "sync_changes", "Rows the sync runs added, changed or "
                                           "tombstoned, by kind.", ("kind", "change", "cloud"))
        self.api_requests = LabeledCounter(reg, PREFIX + "cloud_api_requests",
                                           "OpenStack API calls by service (compute, network, ...; sdk for "
                                           "calls made through openstacksdk's resource layer).", ("service", "cloud"))
        self.api_errors = LabeledCounter(reg, PREFIX + "cloud_api_errors",
                                         "OpenStack API calls that failed, by service and error class.",
                                         ("service", "error", "cloud"))
        self.api_latency = LabeledHistogram(reg, PREFIX + "cloud_api_request_duration_seconds",
                                            "OpenStack API call duration by service.", ("service", "cloud"),
                                            buckets=API_BUCKETS)

    # --- observers (called by app.sync and app.cloud through the object app.context passes down) ---------

    def for_cloud(self, cloud: str) -> CloudObserver:
        """The observer one cloud's client and sync service report to (its metrics carry ``cloud``)."""
        return CloudObserver(self, cloud)

    def sync_finished(self, result: Any, cloud: str = "") -> None:
        """A poller run (``app.sync.runs.SyncResult``) was recorded."""
        self.sync_runs.inc(result.kind, result.mode, result.status, cloud)
        self.sync_duration.observe(float(result.duration_s or 0.0), result.kind, result.mode, cloud)
        for change in ("added", "changed", "tombstoned"):
            n = getattr(result, change, 0) or 0
            if n:
                self.sync_changes.inc(result.kind, change, cloud, amount=float(n))

    def api_call(self, service: str | None, seconds: float, error: BaseException | None, cloud: str = "") -> None:
        """One OpenStack API call through ``CloudClient.run`` finished (``error`` if it failed)."""
        service = service or "sdk"
        self.api_requests.inc(service, cloud)
        self.api_latency.observe(seconds, service, cloud)
        if error is not None:
            self.api_errors.inc(service, type(error).__name__, cloud)

    # --- exposition -----------------------------------------------------------------------------------

    def render(self, samples: Mapping[str, SnapshotSample] | None = None) -> bytes:
        """The Prometheus text exposition of everything, with the scrape-time gauges of each cloud's sample."""
        extra: Iterable[Any] = (SnapshotCollector(samples),) if samples else ()
        return generate_latest(_Scrape(self.registry, *extra))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CloudObserver:
    """:class:`Metrics`' observer methods with one cloud's label (``app.context`` hands one to each cloud's
    ``CloudClient`` and ``SyncService``)."""

    metrics: Metrics
    cloud: str

    def sync_finished(self, result: Any) -> None:
        self.metrics.sync_finished(result, self.cloud)

    def api_call(self, service: str | None, seconds: float, error: BaseException | None) -> None:
        self.metrics.api_call(service, seconds, error, self.cloud)
