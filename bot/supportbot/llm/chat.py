"""Value types of the LLM client: chat messages in, `LLMResult` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypedDict

from supportbot.llm.errors import Attempt

Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    """OpenRouter credits (USD) charged for the call, from `usage.cost`."""


@dataclass(frozen=True)
class LLMResult:
    """A validated answer and what it cost."""

    content: str
    model: str
    """The model that actually answered (the response's `model`, billed by OpenRouter)."""
    requested_model: str
    """The model we asked for in the successful attempt."""
    usage: Usage
    latency_seconds: float
    """Wall time of the whole `complete` call, fallbacks included."""
    generation_id: str | None = None
    finish_reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    system_folded: bool = False
    """True when the system prompt was folded into the first user message."""

    @property
    def fallback_used(self) -> bool:
        return any(a.outcome != "ok" for a in self.attempts)
