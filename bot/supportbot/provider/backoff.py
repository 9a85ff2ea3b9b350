"""MSG91 sends' retry policy: exponential backoff with full jitter (`supportbot.retrying`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from supportbot.retrying import exponential_ceiling, full_jitter


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a retryable send error is retried."""

    max_attempts: int = 6
    """Attempts per message including the first; then the turn is handed back (deferred)."""
    base_delay: float = 0.5
    """Cap of the first backoff in seconds; doubles (`multiplier`) per attempt."""
    multiplier: float = 2.0
    max_delay: float = 30.0
    """No single backoff is longer than this (a larger Retry-After is still honoured)."""
    max_retry_after: float = 120.0
    """Retry-After values above this are clipped (a broken header must not stall a turn)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.multiplier < 1:
            raise ValueError("max_attempts >= 1, base_delay >= 0 and multiplier >= 1 required")


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Full jitter: uniform in [0, min(max_delay, base * multiplier**(attempt-1))], so replicas hit
    by the same 429 storm spread out instead of retrying in lock-step. A Retry-After from the
    server is a floor.
    """
    cap = exponential_ceiling(attempt - 1, policy.base_delay, policy.max_delay, policy.multiplier)
    delay = full_jitter(cap, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after))
    return delay
