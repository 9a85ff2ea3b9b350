"""Deterministic simulated answers, usage and cost, in OpenRouter's response shape.

The answer depends only on the model and the last user message: ``SIM-REPLY[model] ref <8 hex
of sha256(last user message)>: re "<start of that message>"``, so tests can recognise it and
predict it. Token counts are characters / 4 (rounded up); cost uses the catalogue's per-token
prices, as OpenRouter reports credits in ``usage.cost``.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

MARKER = "SIM-REPLY"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    prompt_price: float = 0.15e-6
    """USD (credits) per prompt token."""
    completion_price: float = 0.60e-6
    context_length: int = 128_000


DEFAULT_CATALOGUE: tuple[ModelInfo, ...] = (
    ModelInfo("openai/gpt-4o-mini", 0.15e-6, 0.60e-6),
    ModelInfo("google/gemini-2.5-flash", 0.30e-6, 2.50e-6),
    ModelInfo("anthropic/claude-sonnet-4.6", 3.0e-6, 15.0e-6, 200_000),
    ModelInfo("google/gemma-3-27b-it", 0.10e-6, 0.20e-6, 96_000),
    ModelInfo("meta-llama/llama-3.3-70b-instruct", 0.13e-6, 0.40e-6),
)


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


def reply_text(model: str, messages: list[Any]) -> str:
    question = last_user_text(messages)
    ref = hashlib.sha256(question.encode("utf-8")).hexdigest()[:8]
    snippet = " ".join(question.split())[:80]
    return f'{MARKER}[{model}] ref {ref}: re "{snippet}"'


def tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def completion_body(model: ModelInfo, messages: list[Any], generation_id: str) -> dict[str, Any]:
    content = reply_text(model.id, messages)
    prompt_tokens = sum(tokens(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    completion_tokens = tokens(content)
    cost = prompt_tokens * model.prompt_price + completion_tokens * model.completion_price
    return {
        "id": generation_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.id,
        "provider": "Simulator",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
            "cost": round(cost, 10),
            "is_byok": False,
            "cost_details": {"upstream_inference_cost": None},
        },
    }


def models_body(catalogue: dict[str, ModelInfo]) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": m.id,
                "name": m.id,
                "context_length": m.context_length,
                "pricing": {
                    "prompt": f"{m.prompt_price:.10f}",
                    "completion": f"{m.completion_price:.10f}",
                },
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            }
            for m in catalogue.values()
        ]
    }
