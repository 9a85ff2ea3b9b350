"""Parse and validate one OpenRouter chat-completions response. Pure.

Non-2xx statuses, error objects inside an HTTP 200 body, ``finish_reason: "error"`` and missing
``choices[0].message.content`` all raise a typed `ModelFailure`; a good response becomes a
`Completion` with usage and cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supportbot.llm.chat import Usage
from supportbot.llm.errors import InvalidResponse, ModelErrorIn200, ModelHTTPError
from supportbot.retrying import parse_retry_after


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    usage: Usage
    generation_id: str | None
    finish_reason: str | None


def _error_message(body: Any) -> tuple[int | None, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))[:300]
    if isinstance(error, str):
        return None, error[:300]
    return None, ""


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()

    def num(key: str) -> int:
        value = raw.get(key)
        return int(value) if isinstance(value, int | float) else 0

    cost = raw.get("cost")
    prompt, completion = num("prompt_tokens"), num("completion_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=num("total_tokens") or prompt + completion,
        cost=float(cost) if isinstance(cost, int | float) else 0.0,
    )


def parse_completion(
    model: str, status: int, headers: Mapping[str, str], body: bytes, now_epoch: float
) -> Completion:
    """The validated completion, or raise the matching ModelFailure."""
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    if not 200 <= status < 300:
        _, message = _error_message(data)
        retry_after = parse_retry_after(headers.get("retry-after"), now_epoch)
        raise ModelHTTPError(model, status, message or "no error message", retry_after)
    if not isinstance(data, dict):
        raise InvalidResponse(model, "response body is not a JSON object")
    if "error" in data and data["error"]:
        code, message = _error_message(data)
        raise ModelErrorIn200(model, f"error in HTTP 200 body (code {code}): {message}", code)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponse(model, "no choices in the response")
    choice = choices[0]
    finish = choice.get("finish_reason")
    if finish == "error":
        raise ModelErrorIn200(model, "finish_reason 'error' in HTTP 200")
    reply = choice.get("message")
    content = reply.get("content") if isinstance(reply, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise InvalidResponse(model, "choices[0].message.content is missing or empty")
    served = data.get("model")
    return Completion(
        content=content,
        model=served if isinstance(served, str) and served else model,
        usage=_usage(data.get("usage")),
        generation_id=data.get("id") if isinstance(data.get("id"), str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
    )
