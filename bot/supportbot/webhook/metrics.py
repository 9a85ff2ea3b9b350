"""Prometheus metrics of one webhook app, on its own registry (served at ``GET /metrics``).

Labels hold only route templates, status codes and closed-set outcomes/reasons: never phone
numbers, message ids or paths taken from the request.

    supportbot_webhook_requests_total{route,code}       every HTTP response
    supportbot_webhook_ack_latency_seconds{route}       time to answer a webhook POST
    supportbot_webhook_messages_total{outcome}          accepted, duplicate, throttled,
                                                        throttled_notify
    supportbot_webhook_delivery_reports_total{outcome}  accepted, duplicate
    supportbot_webhook_parse_errors_total{reason}       ParseError reasons (parsing.REASONS)
    supportbot_webhook_rejections_total{code}           every error code we answer with
    supportbot_redis_persistence_durable                1 when Redis keeps acknowledged messages
                                                        through a restart (AOF), else 0

``GET /metrics`` also serves the process-wide default registry (engine and MSG91 metrics of the
agent API's handoffs and replies, like the worker's ``/metrics``).

Labelled children are looked up once and cached (`prometheus_client`'s ``labels()`` takes a lock
and validates the labels on every call, a measurable share of the acknowledgement path).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Generic, TypeVar

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportbot.webhook.parsing import REASONS

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

M = TypeVar("M", bound=MetricWrapperBase)


class Children(Generic[M]):
    """``metric.labels(*values)``, each child looked up once."""

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


class WebhookMetrics:
    def __init__(self, outcomes: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "supportbot_webhook_requests",
            "HTTP responses of the webhook by route template and status code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "supportbot_webhook_ack_latency_seconds",
            "Seconds from receiving a webhook POST to sending its response status.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.messages = Counter(
            "supportbot_webhook_messages",
            "Inbound messages by ingest outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.reports = Counter(
            "supportbot_webhook_delivery_reports",
            "Delivery reports by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.parse_errors = Counter(
            "supportbot_webhook_parse_errors",
            "Bodies or items that could not be parsed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "supportbot_webhook_rejections",
            "Error responses by error code.",
            ["code"],
            registry=self.registry,
        )
        self.redis_durable = Gauge(
            "supportbot_redis_persistence_durable",
            "1 when the Redis holding acknowledged messages persists them (AOF), else 0; "
            "checked with readiness.",
            registry=self.registry,
        )
        for outcome in outcomes:  # export zeros so dashboards and alerts see the series
            self.messages.labels(outcome)
        for outcome in ("accepted", "duplicate"):
            self.reports.labels(outcome)
        for reason in REASONS:
            self.parse_errors.labels(reason)
        self._requests = Children(self.requests)
        self._latency = Children(self.ack_latency)
        self._messages = Children(self.messages)
        self._reports = Children(self.reports)
        self._parse_errors = Children(self.parse_errors)
        self._rejections = Children(self.rejections)

    def request(self, route: str, status: int) -> None:
        self._requests(route, str(status)).inc()

    def ack(self, route: str, seconds: float) -> None:
        self._latency(route).observe(seconds)

    def message(self, outcome: str) -> None:
        self._messages(outcome).inc()

    def report(self, outcome: str) -> None:
        self._reports(outcome).inc()

    def parse_error(self, reason: str) -> None:
        self._parse_errors(reason).inc()

    def rejected(self, code: str) -> None:
        self._rejections(code).inc()

    def render(self) -> bytes:
        """This app's registry plus the process-wide default one: the agent API mounted in the
        webhook counts handoffs, agent replies and their deliveries there (engine, MSG91)."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)


class MetricsMiddleware:
    """Counts every response by route and status, and times the webhook routes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: WebhookMetrics,
        routes: Iterable[str],
        timed_routes: Iterable[str],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.known = frozenset(routes)
        self.timed = frozenset(timed_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in self.known else "other"
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if route in self.timed:
                    self.metrics.ack(route, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request(route, status)
