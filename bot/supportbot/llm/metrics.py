"""Prometheus metrics of the LLM client (labels hold model ids only, never customer data)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from supportbot.llm.breaker import BreakerState

REQUEST_DURATION = Histogram(
    "supportbot_llm_request_duration_seconds",
    "Duration of one chat-completion attempt on one model, by outcome.",
    ["model", "outcome"],
    buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60),
)
REQUESTS = Counter(
    "supportbot_llm_requests_total",
    "Chat-completion attempts by model and outcome.",
    ["model", "outcome"],
)
ERRORS = Counter(
    "supportbot_llm_errors_total", "Failed attempts by model and reason.", ["model", "reason"]
)
FALLBACKS = Counter(
    "supportbot_llm_fallbacks_total",
    "Times a model failed or was skipped and the next model was tried.",
    ["model"],
)
TOKENS = Counter(
    "supportbot_llm_tokens_total",
    "Tokens used, by model and kind (prompt|completion).",
    ["model", "kind"],
)
COST = Counter(
    "supportbot_llm_cost_credits_total", "OpenRouter credits (USD) spent, by model.", ["model"]
)
BREAKER_STATE = Gauge(
    "supportbot_llm_breaker_state",
    "Circuit breaker per model: 0 closed, 1 half-open, 2 open.",
    ["model"],
)
UNAVAILABLE = Counter(
    "supportbot_llm_unavailable_total", "Calls where no model answered (fallback message sent)."
)


def set_breaker_state(model: str, state: BreakerState) -> None:
    BREAKER_STATE.labels(model).set(int(state))
