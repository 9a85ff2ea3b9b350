"""The OpenRouter simulator as a FastAPI app: `create_app(SimState(...))`.

OpenAI/OpenRouter-compatible endpoints:
- ``POST /api/v1/chat/completions``: checks ``Authorization: Bearer ...``; honours ``model`` and
  the ``models`` fallback array (max 3, tried in order, any fault moves on to the next model, the
  last model's error is returned); deterministic replies; ``usage`` with ``cost``;
  ``X-Generation-Id`` header. ``stream: true`` is refused (400).
- ``GET /api/v1/models``: the catalogue.

Admin endpoints (``/_sim/...``, for tests to flip failure modes at run time) are in admin.py.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from supportbot.llm.simulator import admin
from supportbot.llm.simulator.faults import FaultRule, Latency, take_fault
from supportbot.llm.simulator.replies import (
    DEFAULT_CATALOGUE,
    ModelInfo,
    completion_body,
    models_body,
)

MAX_RECORDS = 10_000


@dataclass
class SimState:
    latency: Latency = field(default_factory=lambda: Latency("fixed", 0.0))
    model_latency: dict[str, Latency] = field(default_factory=dict)
    faults: list[FaultRule] = field(default_factory=list)
    api_key: str | None = None
    """Required bearer token; None accepts any non-empty bearer token."""
    catalogue: dict[str, ModelInfo] = field(
        default_factory=lambda: {m.id: m for m in DEFAULT_CATALOGUE}
    )
    strict_models: bool = False
    """Unknown model ids -> 400 (default: served with default prices)."""
    seed: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - simulated latency, not security
        self._initial = (self.latency, dict(self.model_latency), list(self.faults))

    def reset(self) -> None:
        self.latency, model_latency, faults = self._initial
        self.model_latency = dict(model_latency)
        self.faults = list(faults)
        self.requests.clear()
        self.rng = random.Random(self.seed)  # noqa: S311 - simulated latency, not security


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, **metadata: Any
) -> JSONResponse:
    body = {"error": {"code": status, "message": message, "metadata": metadata or None}}
    return JSONResponse(body, status_code=status, headers=headers)


def _fault_response(rule: FaultRule, model: str, gen_id: str) -> JSONResponse:
    retry = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else None
    if rule.mode == "rate_limit":
        wait = f"{rule.retry_after if rule.retry_after is not None else 1:g}"
        return _error(
            429,
            "Rate limit exceeded",
            {"Retry-After": wait},
            error_type="rate_limit_exceeded",
            provider_name="Simulator",
        )
    if rule.mode == "payment":
        return _error(402, "Insufficient credits", retry, limit_source="openrouter_credits")
    if rule.mode == "bad_gateway":
        return _error(502, f"{model} is temporarily unavailable", error_type="provider_unavailable")
    if rule.mode == "unavailable":
        return _error(503, "No available provider", retry, error_type="provider_overloaded")
    if rule.mode == "server_error":
        return _error(500, "Internal Server Error")
    if rule.mode in ("bad_request", "no_system"):
        text = (
            "system role is not supported for this model"
            if rule.mode == "no_system"
            else "bad request"
        )
        return _error(400, text, error_type="invalid_request")
    body: dict[str, Any]
    if rule.mode == "error_in_200":
        body = {
            "id": gen_id,
            "object": "chat.completion",
            "model": model,
            "choices": [],
            "error": {
                "code": 502,
                "message": "Provider returned error",
                "metadata": {"provider_name": "Simulator"},
            },
        }
        return JSONResponse(body, headers={"X-Generation-Id": gen_id})
    content: str | None = "" if rule.mode == "finish_error" else None
    finish = "error" if rule.mode == "finish_error" else "stop"
    body = {
        "id": gen_id,
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "native_finish_reason": finish,
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0},
    }
    return JSONResponse(body, headers={"X-Generation-Id": gen_id})


async def _hang(request: Request, seconds: float) -> bool:
    """Wait `seconds` or until the client disconnects (True)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.05)
    return False


def _authorised(state: SimState, header: str | None) -> bool:
    if not header or not header.startswith("Bearer ") or not header[7:].strip():
        return False
    return state.api_key is None or hmac.compare_digest(header[7:].strip(), state.api_key)


async def _complete(state: SimState, request: Request, record: dict[str, Any]) -> JSONResponse:
    if not _authorised(state, request.headers.get("authorization")):
        return _error(401, "No auth credentials found")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    model, models = body.get("model"), body.get("models") or []
    messages = body.get("messages")
    record.update(
        model=model,
        models=models,
        messages=messages,
        user=body.get("user"),
        body={k: v for k, v in body.items() if k != "messages"},
    )
    if not isinstance(models, list) or len(models) > 3:
        return _error(400, "'models' array must have 3 items or fewer")
    if not isinstance(messages, list) or not messages:
        return _error(400, "messages must be a non-empty array")
    if body.get("stream"):
        return _error(400, "streaming is not supported by the simulator")
    candidates = [m for m in [model, *models] if isinstance(m, str) and m]
    candidates = list(dict.fromkeys(candidates))
    if not candidates:
        return _error(400, "model or models is required")
    has_system = any(isinstance(m, dict) and m.get("role") == "system" for m in messages)
    gen_id = f"gen-sim-{uuid.uuid4().hex[:16]}"
    response: JSONResponse | None = None
    for name in candidates:
        if state.strict_models and name not in state.catalogue:
            response = _error(400, f"{name} is not a valid model ID")
            record.setdefault("tried", []).append({"model": name, "outcome": "invalid_model"})
            continue
        rule = take_fault(state.faults, name, has_system=has_system)
        if rule is not None and rule.mode == "hang":
            record.update(served_model=name, outcome="hang")
            gone = await _hang(request, rule.hang_seconds)
            record["outcome"] = "hang_client_gone" if gone else "hang_ended"
            return _error(408, "Request timed out")
        if rule is not None:
            record.setdefault("tried", []).append({"model": name, "outcome": rule.mode})
            response = _fault_response(rule, name, gen_id)
            continue
        info = state.catalogue.get(name) or ModelInfo(name)
        await asyncio.sleep(state.model_latency.get(name, state.latency).sample(state.rng))
        record.update(served_model=name, outcome="ok")
        return JSONResponse(
            completion_body(info, messages, gen_id), headers={"X-Generation-Id": gen_id}
        )
    assert response is not None
    record["outcome"] = record["tried"][-1]["outcome"] if record.get("tried") else "error"
    return response


def create_app(state: SimState) -> FastAPI:
    app = FastAPI(
        title="OpenRouter simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json"
    )
    app.state.sim = state

    @app.post("/api/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        record: dict[str, Any] = {
            "seq": len(state.requests) + 1,
            "at": time.time(),
            "auth": bool(request.headers.get("authorization")),
            "x_request_id": request.headers.get("x-request-id"),
        }
        state.requests.append(record)
        del state.requests[:-MAX_RECORDS]
        response = await _complete(state, request, record)
        record["status"] = response.status_code
        record["finished_at"] = time.time()
        return response

    @app.get("/api/v1/models")
    async def list_models() -> dict[str, Any]:
        return models_body(state.catalogue)

    admin.add_routes(app, state)
    return app
