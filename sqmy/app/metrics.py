"""Prometheus metrics (``/metrics``), one registry per app so several apps can live in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Children:
    """``metric.labels(*values)``, remembered per label values: prometheus_client checks and locks on every
    ``labels`` call, a few microseconds each, three times per request on the hot path."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sqmy_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("sqmy_http_request_duration_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                                 registry=self.registry)
        self.classified = Counter("sqmy_items_classified", "Items classified", ["engine"], registry=self.registry)
        self.needs_review = Counter("sqmy_items_needs_review", "Items flagged for review", ["engine"],
                                    registry=self.registry)
        self.errors = Counter("sqmy_errors", "Error responses", ["error_type"], registry=self.registry)
        self.feedback = Counter("sqmy_feedback", "Staff verdicts stored", ["action"], registry=self.registry)
        self.request_count, self.request_latency = Children(self.requests), Children(self.latency)
        self.classified_count, self.needs_review_count = Children(self.classified), Children(self.needs_review)
        self.model = Gauge("sqmy_model_info", "Loaded model versions", ["engine", "version"], registry=self.registry)
