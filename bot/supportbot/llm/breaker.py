"""Per-model circuit breaker: closed -> open after N consecutive failures -> half-open after a
cooldown -> closed on a successful probe (or open again on a failed one).

Pure state machine with an injected monotonic clock; the client asks `allow()` before calling a
model and reports `record_success()` / `record_failure()`. In half-open state only one probe is
let through at a time, so a recovering model is not stampeded by every waiting turn. State
changes call `on_change(model, state)` (the client exports it as a metric).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    """Numeric values are the `supportbot_llm_breaker_state` gauge values."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        model: str,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.model = model
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        if on_change:
            on_change(model, self._state)

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose cooldown has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._cooldown_over():
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _cooldown_over(self) -> bool:
        return self._clock() - self._opened_at >= self.cooldown_seconds

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change:
                self._on_change(self.model, state)

    def allow(self) -> bool:
        """May we call the model now? In half-open state, True once until the probe reports."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def release(self) -> None:
        """The allowed call was not made or says nothing about health (e.g. 401)."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        self.failures = 0
        self._probe_in_flight = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self.failures += 1
        if self._state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)
