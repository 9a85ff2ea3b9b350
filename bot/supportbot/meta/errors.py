"""Typed Graph API send errors and the pure classification of one attempt's answer.

Mirrors `supportbot.msg91.errors` (same names, same split) so a provider interface can treat both
alike: a `RetryableSendError` is worth another attempt after a backoff, a `DefinitiveSendError`
is not. Meta adds two definitive outcomes a caller acts on differently: `WINDOW_CLOSED` (131047,
send an approved template instead) and `UNDELIVERABLE` (131026, the number cannot receive).

Classification (shared/reference/msg91-whatsapp.md §2.8; Meta: branch on ``code`` and
``error_data.details``, never on titles) goes by ``error.code`` first, then by HTTP status:

| code | outcome | retry |
|---|---|---|
| 130429 throughput, 131057 throughput upgrade / maintenance | rate_limited | yes |
| 131056 pair rate limit (~1 msg / 6 s to one user) | pair_rate_limited | yes, ≥ 6 s |
| 131047 outside the 24 h window | window_closed | no, send a template |
| 131026 undeliverable | undeliverable | no |
| 190 token expired, 10 / 200-299 permission | auth_error | no (configuration) |
| 100, 131051, 131048, 131049, 132000, 132001, 132005, 132012, other | rejected | no |
| no code: HTTP 429 / 408 / 5xx, timeout, connection error | by status | yes |

httpx errors never leave `client`; they are chained as causes of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from supportbot.meta import limits


class AttemptOutcome(StrEnum):
    """Result of one HTTP attempt (the values shared with MSG91 are spelt alike)."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    PAIR_RATE_LIMITED = "pair_rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    WINDOW_CLOSED = "window_closed"
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    AUTH_ERROR = "auth_error"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        AttemptOutcome.RATE_LIMITED,
        AttemptOutcome.PAIR_RATE_LIMITED,
        AttemptOutcome.SERVER_ERROR,
        AttemptOutcome.TIMEOUT,
        AttemptOutcome.CONNECTION_ERROR,
    }
)

THROUGHPUT = 130429
PAIR_RATE_LIMIT = 131056
THROUGHPUT_UPGRADE = 131057
REENGAGEMENT = 131047
UNDELIVERABLE = 131026
TOKEN_EXPIRED = 190
INVALID_PARAMETER = 100
UNSUPPORTED_TYPE = 131051

CODE_OUTCOMES: dict[int, AttemptOutcome] = {
    THROUGHPUT: AttemptOutcome.RATE_LIMITED,
    THROUGHPUT_UPGRADE: AttemptOutcome.RATE_LIMITED,
    PAIR_RATE_LIMIT: AttemptOutcome.PAIR_RATE_LIMITED,
    REENGAGEMENT: AttemptOutcome.WINDOW_CLOSED,
    UNDELIVERABLE: AttemptOutcome.UNDELIVERABLE,
    TOKEN_EXPIRED: AttemptOutcome.AUTH_ERROR,
    10: AttemptOutcome.AUTH_ERROR,
}
"""Codes with their own outcome; 200-299 (permissions) are AUTH_ERROR too (`outcome_for_code`).
Any other code is REJECTED unless the HTTP status says "later" (5xx/429)."""

DEFINITIVE_CODES = frozenset({100, 131026, 131047, 131051, 132000, 132001, 132005, 132012, 190})
"""The public worker's "definitive, don't retry" set (reference §2.8): all classify as not
retryable here (documentation and tests hold the two in step)."""


class DeliveryError(Exception):
    """Base of everything the Meta delivery side raises."""


class InvalidOutboundMessage(DeliveryError):
    """The message breaks a WhatsApp limit (too many buttons, title too long...); never sent."""


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: AttemptOutcome
    error_code: str | None = None
    """Graph ``error.code`` as a string (MSG91's `Classification` keeps codes as strings)."""
    reason: str | None = None
    error_subcode: str | None = None
    fbtrace_id: str | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome.retryable

    @property
    def needs_template(self) -> bool:
        """Outside the 24 h window: only an approved template can reach the customer now."""
        return self.outcome is AttemptOutcome.WINDOW_CLOSED

    @property
    def min_delay(self) -> float | None:
        """The shortest sensible wait before a retry when no Retry-After was given."""
        if self.outcome is AttemptOutcome.PAIR_RATE_LIMITED:
            return limits.PAIR_RATE_SECONDS
        return None


class SendError(DeliveryError):
    """One attempt failed; `classification` says how and `status_code` what the Graph API said.

    `retry_after` is the Retry-After header's seconds, else the class's `min_delay` (131056)."""

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
        code = f" #{classification.error_code}" if classification.error_code else ""
        super().__init__(f"Graph send failed ({status_code or 'no response'}){code}: {detail}")

    @property
    def outcome(self) -> AttemptOutcome:
        return self.classification.outcome

    @property
    def needs_template(self) -> bool:
        return self.classification.needs_template


class RetryableSendError(SendError):
    """Try again after a backoff (honouring `retry_after`)."""


class DefinitiveSendError(SendError):
    """Retrying cannot help; record the failure (or send a template: `needs_template`)."""


def error_for(
    classification: Classification,
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
    response_text: str | None = None,
) -> SendError:
    kind = RetryableSendError if classification.retryable else DefinitiveSendError
    if retry_after is None and classification.retryable:
        retry_after = classification.min_delay
    return kind(
        classification,
        status_code=status_code,
        retry_after=retry_after,
        response_text=response_text,
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def outcome_for_code(code: int) -> AttemptOutcome | None:
    """The outcome a Graph error code decides on its own, else None (the HTTP status decides)."""
    if code in CODE_OUTCOMES:
        return CODE_OUTCOMES[code]
    if 200 <= code <= 299:
        return AttemptOutcome.AUTH_ERROR
    return None


@dataclass(frozen=True, slots=True)
class GraphError:
    """The ``error`` object of a Graph answer (reference §2.4)."""

    code: int | None
    subcode: int | None
    message: str | None
    type: str | None
    details: str | None
    fbtrace_id: str | None


def graph_error(body: Any) -> GraphError | None:
    """``{"error":{"message","type","code","error_subcode","error_data":{"details"},
    "fbtrace_id"}}`` -> `GraphError`; None when the body carries no error object."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    err = body["error"]
    data = err.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None

    def text(value: Any) -> str | None:
        return str(value)[:500] if value not in (None, "") else None

    return GraphError(
        code=_int(err.get("code")),
        subcode=_int(err.get("error_subcode")),
        message=text(err.get("message")),
        type=text(err.get("type")),
        details=text(details),
        fbtrace_id=text(err.get("fbtrace_id")),
    )


def _by_status(status_code: int) -> AttemptOutcome:
    if status_code == 429:
        return AttemptOutcome.RATE_LIMITED
    if status_code == 408:
        return AttemptOutcome.TIMEOUT
    if status_code >= 500:
        return AttemptOutcome.SERVER_ERROR
    if status_code in (401, 403):
        return AttemptOutcome.AUTH_ERROR
    return AttemptOutcome.REJECTED


def classify_response(status_code: int, body: Any) -> Classification:
    """Decide what a Graph answer means; `body` is the parsed JSON or None.

    A 2xx answer is accepted unless it carries an ``error`` object. With an error code that has
    its own outcome (`outcome_for_code`) the code decides; otherwise the HTTP status does, so an
    unknown code on a 5xx/429 is retried and on a 4xx is not."""
    err = graph_error(body)
    if err is None:
        if 200 <= status_code < 300:
            return Classification(AttemptOutcome.ACCEPTED)
        return Classification(_by_status(status_code), None, f"HTTP {status_code}")
    reason = "; ".join(p for p in (err.message, err.details) if p) or f"HTTP {status_code}"
    outcome = outcome_for_code(err.code) if err.code is not None else None
    if outcome is None:
        outcome = _by_status(status_code)
        if outcome is AttemptOutcome.AUTH_ERROR and err.code == INVALID_PARAMETER:
            outcome = AttemptOutcome.REJECTED
    return Classification(
        outcome,
        str(err.code) if err.code is not None else None,
        reason,
        str(err.subcode) if err.subcode is not None else None,
        err.fbtrace_id,
    )
