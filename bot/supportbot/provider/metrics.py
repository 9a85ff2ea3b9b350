"""Prometheus metrics of the delivery side (conventional names, base units, no phone labels)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "supportbot_delivery_attempts_total",
    "MSG91 send attempts by outcome (accepted, rate_limited, server_error, timeout, "
    "connection_error, rejected, auth_error).",
    ["outcome"],
)
DELIVERY_ATTEMPT_SECONDS = Histogram(
    "supportbot_delivery_attempt_duration_seconds",
    "Duration of one MSG91 send HTTP attempt.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERIES = Counter(
    "supportbot_deliveries_total",
    "Outbound replies by final outcome (sent, template_sent, undeliverable, duplicate, deferred).",
    ["outcome"],
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "supportbot_send_rate_limit_wait_seconds",
    "Time a send waited for the per-integrated-number rate limit.",
    buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
DLR_REPORTS = Counter(
    "supportbot_dlr_reports_total",
    "Delivery reports by reported state and result (applied, ignored, unknown, invalid).",
    ["state", "result"],
)
