"""`llm-echo`: a turn handler that calls the OpenRouter simulator, then echoes the turn's texts.

It does the I/O of a real turn (one LLM call of 2-10 s, one MSG91 send, idempotent on the turn
id through the echo handler's marker) without the conversation engine's flow and PostgreSQL
work, so the worker-vs-naive comparison measures the queue and worker, not the engine:

    supportbot worker --handler sbload.llm_echo:llm_echo_handler
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis

from supportbot.httppool import sharded_client
from supportbot.messages import Turn, TurnHandler
from supportbot.queueing.echo import HTTP_TIMEOUT_SECONDS, EchoHandler, echo_text
from supportbot.settings import BotSettings

LLM_TIMEOUT_SECONDS = 60.0


class LlmCallError(RuntimeError):
    """The OpenRouter simulator did not answer 200; the turn is retried."""


def chat_body(model: str, text: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 64}


class LlmEchoHandler:
    def __init__(self, settings: BotSettings, echo: EchoHandler, http: httpx.AsyncClient) -> None:
        self._s = settings
        self._echo = echo
        self._http = http

    async def handle_turn(self, turn: Turn) -> None:
        text = echo_text(turn)
        if text is not None:
            key = self._s.openrouter_api_key
            headers = {"Authorization": f"Bearer {key.get_secret_value() if key else 'x'}"}
            url = self._s.openrouter_base_url.rstrip("/") + "/chat/completions"
            model = self._s.llm_models[0] if self._s.llm_models else "openai/gpt-4o-mini"
            response = await self._http.post(url, json=chat_body(model, text), headers=headers)
            if response.status_code != 200:
                raise LlmCallError(f"LLM answered HTTP {response.status_code}")
        await self._echo.handle_turn(turn)


@asynccontextmanager
async def llm_echo_handler(
    settings: BotSettings, redis: aioredis.Redis
) -> AsyncIterator[TurnHandler]:
    """Handler factory (see `supportbot.queueing.handler_factory.HandlerFactory`)."""
    size = settings.worker_concurrency
    async with (
        sharded_client(size, timeout=HTTP_TIMEOUT_SECONDS) as send_http,
        sharded_client(size, timeout=LLM_TIMEOUT_SECONDS) as llm_http,
    ):
        yield LlmEchoHandler(settings, EchoHandler(settings, redis, send_http), llm_http)
