"""LLM client tuning: built from `BotSettings`, with the breaker/retry knobs as defaults here
(they are not per-tenant settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supportbot.llm.prompt import DEFAULT_NO_SYSTEM_MODELS
from supportbot.settings import BotSettings

MAX_MODELS = 3


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str | None
    models: tuple[str, ...]
    """Primary first, then fallbacks (at most 3, OpenRouter's `models` limit)."""
    timeout_seconds: float = 30.0
    """Per attempt: the whole request/response of one model must finish within it."""
    connect_timeout_seconds: float = 5.0
    max_connections: int = 500
    """Concurrent requests to OpenRouter (one per in-flight turn at most): sized from the
    worker's concurrency so turns never queue for a connection."""
    max_tokens: int = 512
    temperature: float = 0.3
    mask_pii: bool = True
    fallback_mode: Literal["client", "server"] = "client"
    """client: one request per model, in order (default, see client.py); server: one request
    with OpenRouter's `models` array."""
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0
    max_retry_after_seconds: float = 10.0
    """Longest Retry-After we wait in place when no other model is available."""
    no_system_models: tuple[str, ...] = DEFAULT_NO_SYSTEM_MODELS
    app_title: str = "supportbot"
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= len(self.models) <= MAX_MODELS:
            raise ValueError(f"configure 1 to {MAX_MODELS} LLM models (got {len(self.models)})")

    @classmethod
    def from_settings(cls, settings: BotSettings, **overrides: object) -> LLMConfig:
        key = settings.openrouter_api_key
        values: dict[str, object] = {
            "base_url": settings.openrouter_base_url.rstrip("/"),
            "api_key": key.get_secret_value() if key is not None else None,
            "models": tuple(settings.llm_models),
            "timeout_seconds": settings.llm_timeout_seconds,
            "max_tokens": settings.llm_max_tokens,
            "temperature": settings.llm_temperature,
            "mask_pii": settings.llm_mask_pii,
            "max_connections": max(settings.worker_concurrency, 10),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
