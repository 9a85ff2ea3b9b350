"""LLM access through OpenRouter: a chat-completions client with ordered model fallback,
per-model circuit breakers, Retry-After handling, response validation, system-prompt folding,
PII masking and usage/cost accounting; plus an OpenRouter simulator (`supportbot.llm.simulator`).

Engine usage::

    client = OpenRouterClient(LLMConfig.from_settings(settings))
    try:
        result = await client.answer(request.system_prompt, request.user_text, history,
                                     user=pseudonymous_id)
    except LLMUnavailable as exc:   # every model failed: the flow's fallback + human offer
        ...
"""

from supportbot.llm.breaker import BreakerState, CircuitBreaker
from supportbot.llm.chat import ChatMessage, LLMResult, Usage
from supportbot.llm.client import OpenRouterClient
from supportbot.llm.config import LLMConfig
from supportbot.llm.errors import (
    Attempt,
    InvalidResponse,
    LLMError,
    LLMUnavailable,
    ModelConnectionError,
    ModelErrorIn200,
    ModelFailure,
    ModelHTTPError,
    ModelTimeout,
)
from supportbot.llm.pii import mask_pii, pseudonymous_user
from supportbot.llm.prompt import build_messages, fold_system

__all__ = [
    "Attempt",
    "BreakerState",
    "ChatMessage",
    "CircuitBreaker",
    "InvalidResponse",
    "LLMConfig",
    "LLMError",
    "LLMResult",
    "LLMUnavailable",
    "ModelConnectionError",
    "ModelErrorIn200",
    "ModelFailure",
    "ModelHTTPError",
    "ModelTimeout",
    "OpenRouterClient",
    "Usage",
    "build_messages",
    "fold_system",
    "mask_pii",
    "pseudonymous_user",
]
