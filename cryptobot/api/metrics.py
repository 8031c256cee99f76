"""Prometheus metrics of the API (``/metrics``).

Measured by the API itself: request latency per route (histogram), rate-limited requests per
token. Read from the warehouse snapshot at each scrape: the age of the newest bar of every series,
the snapshot's age, the newest finished ingest batch's duration per (source, table); and from
the Prefect server when one is configured, the duration of each deployment's newest run.

Order latency (migration 011): per mode, over the newest acknowledged orders, the seconds from
the decision (its audit row's wall-clock time) to the exchange's acknowledgement, and from sending
to acknowledgement, as quantiles (0.5, 0.99, 1 = the maximum). The paper desk acknowledges at
once, so its figures are the step's own time from deciding to handing the order over.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: request latency buckets (seconds): the p99 goal is 0.1 s
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _Fixed(Collector):
    """Metrics computed for one scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "cryptobot_api_request_duration_seconds",
            "API request latency from the request's arrival to its response, per route",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "cryptobot_api_rate_limited",
            "requests refused with 429 because their token was over its rate limit",
            ["token"],
            registry=self.registry,
        )

    def exposition(self, scraped: list[Metric]) -> bytes:
        """The text format of the API's own metrics and of ``scraped`` (one scrape's gauges)."""
        once = CollectorRegistry(auto_describe=True)
        once.register(_Fixed(scraped))
        return generate_latest(self.registry) + generate_latest(once)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)


def warehouse_gauges(
    bar_ages: list[dict],
    snapshot_age: float | None,
    ingest: list[dict],
    flows: list[dict],
    snapshots: dict | None = None,
    latency: list[dict] | None = None,
) -> list[Metric]:
    """The gauges read from the warehouse snapshot and Prefect at one scrape, and the snapshot
    refresher's counts (``Snapshots.status()``)."""
    age = GaugeMetricFamily(
        "cryptobot_bar_age_seconds",
        "seconds since the newest stored bar of a series closed",
        labels=["exchange", "symbol", "timeframe"],
    )
    for row in bar_ages:
        age.add_metric([row["exchange"], row["symbol"], row["timeframe"]], row["bar_age_seconds"])
    snapshot = GaugeMetricFamily(
        "cryptobot_api_snapshot_age_seconds",
        "seconds since the API's snapshot was last known to equal the warehouse",
    )
    if snapshot_age is not None:
        snapshot.add_metric([], snapshot_age)
    batches = GaugeMetricFamily(
        "cryptobot_ingest_batch_duration_seconds",
        "duration of the newest finished ingest batch per source and table",
        labels=["source", "table_name"],
    )
    for row in ingest:
        if row["seconds"] is not None:
            batches.add_metric([row["source"], row["table_name"]], row["seconds"])
    runs = GaugeMetricFamily(
        "cryptobot_flow_run_duration_seconds",
        "run time of each Prefect deployment's newest started run (needs PREFECT_API_URL)",
        labels=["deployment", "state"],
    )
    for row in flows:
        if row.get("seconds") is not None:
            runs.add_metric([row["name"] or "", row["state"] or ""], float(row["seconds"]))
    found = [age, snapshot, batches, runs, *order_latency_gauges(latency or [])]
    if snapshots is not None:
        copies = CounterMetricFamily(
            "cryptobot_api_snapshot_copies",
            "snapshot copies made, without the write lock (lock_free) or under it (locked)",
            labels=["kind"],
        )
        free = snapshots["lock_free_copies"]
        copies.add_metric(["lock_free"], free)
        copies.add_metric(["locked"], snapshots["copies"] - free)
        held = CounterMetricFamily(
            "cryptobot_api_snapshot_copy_lock_seconds",
            "seconds the API held the warehouse's write lock to copy it (what writers waited)",
        )
        held.add_metric([], snapshots["copy_lock_seconds_total"])
        found += [copies, held]
    return found


def order_latency_gauges(latency: list[dict]) -> list[Metric]:
    """``reads.order_latency`` as two gauges with a ``quantile`` label, and the order count."""
    decision = GaugeMetricFamily(
        "cryptobot_order_decision_to_ack_seconds",
        "seconds from a trading decision to the exchange's acknowledgement of its order, over "
        "the newest acknowledged orders (quantile 1: the maximum)",
        labels=["mode", "quantile"],
    )
    send = GaugeMetricFamily(
        "cryptobot_order_send_to_ack_seconds",
        "seconds from sending an order to the exchange's acknowledgement (quantile 1: maximum)",
        labels=["mode", "quantile"],
    )
    counted = GaugeMetricFamily(
        "cryptobot_order_latency_orders",
        "acknowledged orders the order latency quantiles are taken over",
        labels=["mode"],
    )
    for row in latency:
        counted.add_metric([row["mode"]], row["orders"])
        for family, prefix in ((decision, "decision"), (send, "send")):
            for quantile, key in (("0.5", "p50"), ("0.99", "p99"), ("1", "max")):
                value = row.get(f"{prefix}_{key}")
                if value is not None:
                    family.add_metric([row["mode"], quantile], float(value))
    return [decision, send, counted]
