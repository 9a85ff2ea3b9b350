"""Typed LLM errors. The tree says what the caller does next:

    LLMError
    ├── ModelFailure            one model failed once; the client tries the next model
    │   ├── ModelTimeout        no complete answer within the per-attempt timeout
    │   ├── ModelConnectionError  could not connect / connection dropped
    │   ├── ModelHTTPError      non-2xx status (429/402/5xx/4xx), with Retry-After if sent
    │   ├── ModelErrorIn200     HTTP 200 carrying an error object or finish_reason "error"
    │   └── InvalidResponse     no choices[0].message.content (or not JSON)
    └── LLMUnavailable          every model failed or was skipped: send the flow's fallback
                                message and offer a human (never silence)

Only `LLMUnavailable` leaves `OpenRouterClient.complete`.
"""

from __future__ import annotations

from dataclasses import dataclass


class LLMError(Exception):
    """Base of all LLM errors."""


class ModelFailure(LLMError):
    """One attempt on one model failed."""

    reason = "error"
    counts_for_breaker = True
    """False for failures that say nothing about the model's health (bad key, no credits)."""
    fatal_for_request = False
    """True when trying another model cannot help (invalid key, no credits)."""

    def __init__(self, model: str, message: str) -> None:
        super().__init__(f"{model}: {message}")
        self.model = model
        self.message = message


class ModelTimeout(ModelFailure):
    reason = "timeout"


class ModelConnectionError(ModelFailure):
    reason = "connection"


class ModelErrorIn200(ModelFailure):
    reason = "error_in_200"

    def __init__(self, model: str, message: str, code: int | None = None) -> None:
        super().__init__(model, message)
        self.code = code


class InvalidResponse(ModelFailure):
    reason = "invalid_response"


class ModelHTTPError(ModelFailure):
    def __init__(
        self, model: str, status: int, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(model, f"HTTP {status}: {message}")
        self.status = status
        self.retry_after = retry_after
        named = {429: "rate_limited", 402: "payment_required", 401: "unauthorized"}
        self.reason = named.get(status, f"http_{status}")
        self.counts_for_breaker = status in (408, 429) or status >= 500
        self.fatal_for_request = status in (401, 402)


@dataclass(frozen=True)
class Attempt:
    """What happened to one model during one `complete` call."""

    model: str
    outcome: str
    """'ok', a ModelFailure reason, 'breaker_open' or 'cooling_down' (Retry-After pending)."""
    latency_seconds: float = 0.0
    detail: str = ""


class LLMUnavailable(LLMError):
    """No model produced an answer; `attempts` says why for each one."""

    def __init__(self, attempts: list[Attempt]) -> None:
        summary = ", ".join(f"{a.model}: {a.outcome}" for a in attempts) or "no models configured"
        super().__init__(f"no LLM answer ({summary})")
        self.attempts = attempts
