"""Stand-in turn handler until the conversation engine lands: echo the turn's texts back.

Sends one MSG91 session text per turn (`POST {msg91_base_url}/api/v5/whatsapp/
whatsapp-outbound-message/`, header `authkey`). Delivery is idempotent on `turn_id` through a
Redis marker ``sb:{t}:sent:{turn_id}``: SET NX "sending" (short TTL) before the POST, "sent"
(long TTL) after it, deleted when the POST fails so a retry sends again. A retry that finds
"sending" waits for the other attempt to finish or for the marker to expire (crashed sender).
Only a crash between MSG91 accepting the POST and the "sent" write can duplicate a reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.httppool import sharded_client
from supportbot.messages import Turn, TurnHandler
from supportbot.observability import mask_phone
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)

OUTBOUND_PATH = "/api/v5/whatsapp/whatsapp-outbound-message/"
SLOW_DOWN_TEXT = "You are sending messages very quickly. Please wait a minute, then try again."
SENDING_TTL_SECONDS = 30
SENT_TTL_SECONDS = 7 * 86_400
HTTP_TIMEOUT_SECONDS = 10.0


class EchoSendError(RuntimeError):
    """MSG91 refused or failed the send; the turn is retried."""


def echo_text(turn: Turn) -> str | None:
    """The reply for a turn: its non-throttled texts, or the slow-down notice, or nothing."""
    texts = [m.text for m in turn.messages if not m.throttled and m.text]
    if texts:
        return "\n".join(texts)
    if any(m.throttle_notice for m in turn.messages):
        return SLOW_DOWN_TEXT
    return None


def outbound_body(settings: BotSettings, recipient: str, text: str) -> dict[str, Any]:
    return {
        "integrated_number": settings.integrated_number,
        "recipient_number": recipient,
        "content_type": "text",
        "text": text,
    }


class EchoHandler:
    def __init__(self, settings: BotSettings, redis: aioredis.Redis, http: httpx.AsyncClient):
        self._s = settings
        self._redis = redis
        self._http = http

    async def handle_turn(self, turn: Turn) -> None:
        text = echo_text(turn)
        if text is None:
            return
        last = turn.messages[-1]
        recipient = last.phone or turn.customer_id
        marker = keyspace.sent_key(turn.tenant_id, turn.turn_id)
        while not await self._redis.set(marker, "sending", nx=True, ex=SENDING_TTL_SECONDS):
            if await self._redis.get(marker) == b"sent":
                log.info("turn %s already replied", turn.turn_id)
                return
            await asyncio.sleep(0.5)
        try:
            await self._post(outbound_body(self._s, recipient, text))
        except BaseException:
            await self._redis.delete(marker)
            raise
        await self._redis.set(marker, "sent", ex=SENT_TTL_SECONDS)
        log.info("echoed turn %s to %s", turn.turn_id, mask_phone(recipient))

    async def _post(self, body: dict[str, Any]) -> None:
        headers = {"accept": "application/json"}
        if self._s.msg91_auth_key is not None:
            headers["authkey"] = self._s.msg91_auth_key.get_secret_value()
        url = self._s.msg91_base_url.rstrip("/") + OUTBOUND_PATH
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EchoSendError(f"send failed: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise EchoSendError(f"send refused: HTTP {response.status_code}")


@asynccontextmanager
async def echo_handler(settings: BotSettings, redis: aioredis.Redis) -> AsyncIterator[TurnHandler]:
    """Handler factory (the worker's default)."""
    async with sharded_client(settings.worker_concurrency, timeout=HTTP_TIMEOUT_SECONDS) as http:
        yield EchoHandler(settings, redis, http)
