"""Prometheus metrics of the handoff notifications (default registry; labels never carry phone
numbers, customer ids or URLs)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "supportbot_handoff_notifications_total",
    "Handoff notifications to the business webhook, by event (handoff.requested, "
    "handoff.customer_message) and outcome: enqueued (outbox row written), delivered (2xx), "
    "retry (an attempt failed, another is scheduled), failed (given up: permanent 4xx, attempts "
    "or time exhausted).",
    ["event", "outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "supportbot_handoff_notification_attempt_seconds",
    "Wall time of one POST to the business webhook, by outcome (delivered, retry, failed).",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
PENDING = Gauge(
    "supportbot_handoff_notifications_pending",
    "Handoff notifications not yet delivered nor given up (the tenant's outbox, as last seen by "
    "this worker's sender; every worker reports the same table: aggregate with max).",
)
OLDEST_PENDING_SECONDS = Gauge(
    "supportbot_handoff_notification_oldest_pending_seconds",
    "Age of the oldest pending handoff notification (0 when none): how late the business hears.",
)
