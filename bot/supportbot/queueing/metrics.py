"""Prometheus metrics of the worker process (one registry per worker instance)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_TURN_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30)


class WorkerMetrics:
    heartbeat_at: float = 0.0
    """Epoch seconds of the last completed heartbeat round (0 = none yet)."""
    redis_persistence: str = "not checked yet"
    """How durable the worker's Redis is (`persistence.RedisPersistence.describe`)."""

    def beat(self) -> None:
        self.heartbeat_at = time.time()
        self.last_heartbeat.set(self.heartbeat_at)

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns_in_flight = Gauge(
            "supportbot_worker_turns_in_flight", "Turns whose handler is running", registry=r
        )
        self.turns_total = Counter(
            "supportbot_worker_turns",
            "Turn attempts by outcome (success, failed, timeout, cancelled, dead_lettered)",
            ["outcome"],
            registry=r,
        )
        self.turn_deferrals = Counter(
            "supportbot_worker_turn_deferrals",
            "Turn runs deferred because a dependency was unavailable, by dependency",
            ["dependency"],
            registry=r,
        )
        self.turns_waiting = Gauge(
            "supportbot_worker_turns_waiting_on_dependency",
            "Turns waiting for an unavailable dependency to come back before running again",
            registry=r,
        )
        self.turn_seconds = Histogram(
            "supportbot_worker_turn_duration_seconds",
            "Wall time of one turn handler call",
            buckets=_TURN_BUCKETS,
            registry=r,
        )
        self.jobs_in_flight = Gauge(
            "supportbot_worker_jobs_in_flight",
            "Drain jobs admitted by this worker (coalescing, running or finishing)",
            registry=r,
        )
        self.jobs_total = Counter(
            "supportbot_worker_jobs",
            "Drain jobs by result (done, idle, skipped, dead_lettered, lease_lost, retried, "
            "failed, handed_back)",
            ["result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "supportbot_worker_queue_depth", "Drain jobs waiting in the rq queue", registry=r
        )
        self.queue_oldest_age = Gauge(
            "supportbot_worker_queue_oldest_age_seconds",
            "Seconds the drain job at the head of the rq queue has waited (0 when empty)",
            registry=r,
        )
        self.conversations_pending = Gauge(
            "supportbot_worker_conversations_pending",
            "Conversations with unacknowledged messages",
            registry=r,
        )
        self.lease_takeovers = Counter(
            "supportbot_worker_lease_takeovers",
            "Conversations taken over after their drain's lease expired (orphaned turns)",
            registry=r,
        )
        self.redis_durable = Gauge(
            "supportbot_redis_persistence_durable",
            "1 when the Redis holding acknowledged messages persists them (AOF), else 0",
            registry=r,
        )
        self.last_heartbeat = Gauge(
            "supportbot_worker_last_heartbeat_timestamp_seconds",
            "When the worker last completed a heartbeat round trip to Redis (liveness)",
            registry=r,
        )
        self.sweeper_kicks = Counter(
            "supportbot_worker_sweeper_kicks",
            "Drains re-enqueued by the sweeper for orphaned conversations",
            registry=r,
        )
        self.lease_renew_seconds = Histogram(
            "supportbot_worker_lease_renew_seconds",
            "Wall time of one batched lease renewal round trip (pool wait included)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.lease_renew_gap_seconds = Histogram(
            "supportbot_worker_lease_renew_gap_seconds",
            "Seconds between two successful extensions of the leases this worker holds",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.leases_lost = Counter(
            "supportbot_worker_leases_lost",
            "Leases found taken by another drain while this worker was running the turn",
            registry=r,
        )
        self.loop_lag_seconds = Histogram(
            "supportbot_worker_event_loop_lag_seconds",
            "How late a timer fires on the worker's event loop",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.redis_probe_seconds = Histogram(
            "supportbot_worker_redis_probe_seconds",
            "Wall time of a PING through the worker's Redis pool (pool wait included)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.redis_pool_in_use = Gauge(
            "supportbot_worker_redis_pool_in_use", "Redis connections checked out", registry=r
        )
        self.redis_pool_waiting = Gauge(
            "supportbot_worker_redis_pool_waiting",
            "Coroutines waiting for a Redis connection",
            registry=r,
        )
        self.dead_letters = Gauge(
            "supportbot_dead_letters",
            "Dead-lettered turns waiting for an operator (`supportbot deadletters`)",
            registry=r,
        )
