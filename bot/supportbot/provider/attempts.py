"""What one send attempt was, and the seam through which storage persists it.

`sending.Sender` calls `AttemptRecorder.record_attempt` once per HTTP attempt (accepted or not),
before it sleeps for a backoff. The PostgreSQL implementation belongs to the storage layer; an
accepted attempt is where it should create the outbound message row (state ``queued``, keyed by
`provider_message_id`) that delivery reports later advance. `ListAttemptRecorder` keeps attempts
in memory (dev tools and unit tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from supportbot.msg91.errors import AttemptOutcome


@dataclass(frozen=True, slots=True)
class SendContext:
    """Who and what a send belongs to (for records, logs and metrics)."""

    tenant_id: str
    customer_id: str
    turn_id: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    tenant_id: str
    customer_id: str
    turn_id: str | None
    seq: int | None
    attempt: int
    """1-based attempt number for this message."""
    outcome: AttemptOutcome
    path: str
    request_body: dict[str, Any]
    started_at: float
    """Epoch seconds when the HTTP request started (after any rate-limit wait)."""
    duration_seconds: float
    rate_limit_wait_seconds: float
    http_status: int | None = None
    provider_message_id: str | None = None
    request_id: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    retry_in_seconds: float | None = None
    """Backoff before the next attempt; None when this was the last one."""
    response_text: str | None = None
    """Raw response body (first 2,000 characters), kept for audit."""

    @property
    def retryable(self) -> bool:
        return self.outcome.retryable


class AttemptRecorder(Protocol):
    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Persist one attempt. Errors are logged by the caller and never stop a send."""
        ...


@dataclass
class ListAttemptRecorder:
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        self.attempts.append(attempt)
