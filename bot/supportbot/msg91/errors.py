"""Typed delivery errors and the pure classification of one send attempt's result.

The type says what to do next (kopf's PermanentError/TemporaryError idea): a
`RetryableSendError` is worth another attempt after a backoff (429, 5xx, timeouts, connection
errors, Meta throughput codes); a `DefinitiveSendError` is not (validation, auth, unknown number).
httpx errors never leave `client`; they are chained as causes of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AttemptOutcome(StrEnum):
    """Result of one HTTP attempt; the `outcome` label of supportbot_delivery_attempts_total."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    REJECTED = "rejected"
    AUTH_ERROR = "auth_error"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        AttemptOutcome.RATE_LIMITED,
        AttemptOutcome.SERVER_ERROR,
        AttemptOutcome.TIMEOUT,
        AttemptOutcome.CONNECTION_ERROR,
    }
)

RETRYABLE_META_CODES = frozenset({"130429", "131056", "131057", "131000", "133004"})
"""Meta codes that mean "later" (throughput, pair rate, maintenance, generic/unavailable)."""


class DeliveryError(Exception):
    """Base of everything the delivery side raises."""


class InvalidOutboundMessage(DeliveryError):
    """The message breaks a WhatsApp limit (too many buttons, title too long...); never sent."""


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: AttemptOutcome
    error_code: str | None = None
    reason: str | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome.retryable


class SendError(DeliveryError):
    """One attempt failed; `classification` says how and `status_code` what MSG91 answered."""

    def __init__(
        self,
        classification: Classification,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        response_text: str | None = None,
    ) -> None:
        self.classification = classification
        self.status_code = status_code
        self.retry_after = retry_after
        self.response_text = response_text
        detail = classification.reason or classification.outcome.value
        super().__init__(f"MSG91 send failed ({status_code or 'no response'}): {detail}")

    @property
    def outcome(self) -> AttemptOutcome:
        return self.classification.outcome


class RetryableSendError(SendError):
    """Try again after a backoff (honouring `retry_after` when MSG91 gave one)."""


class DefinitiveSendError(SendError):
    """Retrying cannot help; record the failure and move on."""


def error_for(
    classification: Classification,
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
    response_text: str | None = None,
) -> SendError:
    kind = RetryableSendError if classification.retryable else DefinitiveSendError
    return kind(
        classification,
        status_code=status_code,
        retry_after=retry_after,
        response_text=response_text,
    )


def _flatten(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p for p in (_flatten(v) for v in value) if p]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        for key in ("message", "details", "title", "error"):
            if key in value:
                return _flatten(value[key])
        parts = [f"{k}: {_flatten(v)}" for k, v in value.items() if _flatten(v)]
        return "; ".join(parts) or None
    return str(value)


def error_details(body: Any) -> tuple[str | None, str | None]:
    """(code, reason) from MSG91 (`code`, `message`, `errors`) or Graph (`error{}`) bodies."""
    if not isinstance(body, dict):
        return None, None
    graph = body.get("error")
    if isinstance(graph, dict):
        code = graph.get("code")
        return (str(code) if code is not None else None), _flatten(graph)
    code = body.get("code") or body.get("statusCode")
    errors = body.get("errors")
    if code is None and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
    reason = _flatten(body.get("message")) or _flatten(errors) or _flatten(body.get("reason"))
    return (str(code) if code not in (None, "") else None), (reason[:500] if reason else None)


def reports_failure(body: Any) -> bool:
    """A 2xx body that still says "failed" (`hasError`, `status: fail`, `type: error`)."""
    if not isinstance(body, dict):
        return False
    if body.get("hasError") in (True, "true") or isinstance(body.get("error"), dict):
        return True
    return str(body.get("status", "")).lower() in {"fail", "failed", "error"} or (
        str(body.get("type", "")).lower() == "error"
    )


def classify_response(status_code: int, body: Any) -> Classification:
    """Decide what an HTTP answer means; `body` is the parsed JSON or None."""
    code, reason = error_details(body)
    if 200 <= status_code < 300:
        if not reports_failure(body):
            return Classification(AttemptOutcome.ACCEPTED)
        if code in RETRYABLE_META_CODES:
            return Classification(AttemptOutcome.RATE_LIMITED, code, reason)
        return Classification(AttemptOutcome.REJECTED, code, reason or "error in 2xx body")
    if status_code == 429 or code in RETRYABLE_META_CODES:
        return Classification(AttemptOutcome.RATE_LIMITED, code, reason or "too many requests")
    if status_code == 408:
        return Classification(AttemptOutcome.TIMEOUT, code, reason or "request timeout")
    if status_code >= 500:
        return Classification(AttemptOutcome.SERVER_ERROR, code, reason or f"HTTP {status_code}")
    if status_code in (401, 403, 418):
        return Classification(AttemptOutcome.AUTH_ERROR, code, reason or f"HTTP {status_code}")
    return Classification(AttemptOutcome.REJECTED, code, reason or f"HTTP {status_code}")
