"""The service's own request log and Prometheus metrics (its own registry).

One log line per request: method, path (never the query), status, time in
ms, and the principal's name and credential id, never the credential.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

access = logging.getLogger("opsledger.web.access")


class Metrics:
    def __init__(self, lag: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "opsledger_http_requests", "HTTP requests answered, by route and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "opsledger_http_request_duration_seconds", "Time to answer, by route.",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.recorded = Counter(
            "opsledger_http_events_recorded", "Events recorded through the API.",
            ["route"], registry=self.registry)
        self.alerts_received = Counter(
            "opsledger_alerts_received", "Alerts in the Alertmanager notifications accepted.",
            registry=self.registry)
        self.alerts_recorded = Counter(
            "opsledger_alerts_recorded", "Alertmanager alerts by outcome: 'new' (a breach "
            "recorded), 'ended' (its end recorded); 'seen' (a resend), 'unmatched' (no ticket "
            "or rule) and 'refused' (a closed ticket) recorded nothing.",
            ["outcome"], registry=self.registry)
        self.registry.register(_Lag(lag))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class _Lag:
    """Projection lag at scrape time: events of the log each view has not applied."""

    def __init__(self, lag: Callable[[], dict[str, int]]) -> None:
        self.lag = lag

    def describe(self):
        return []

    def collect(self):
        family = GaugeMetricFamily("opsledger_projection_lag_events",
                                   "Events in the log not yet applied to each view.",
                                   labels=["view"])
        try:
            lags = self.lag()
        except Exception:  # noqa: BLE001 - no store yet: no lag to report, scrape still answers
            lags = {}
        for view, lag in sorted(lags.items()):
            family.add_metric([view], lag)
        yield family


def log_request(method: str, path: str, status: int, millis: float, principal: str) -> None:
    access.info("%s %s %d %.1fms %s", method, path, status, millis, principal)
