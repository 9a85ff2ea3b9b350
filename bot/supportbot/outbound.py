"""The outbound path assembled: the delivery seams implemented over PostgreSQL, and
`open_delivery`, which opens the tenant's provider (`settings.provider`: MSG91 or Meta, chosen
once in `provider.select`) and the `Deliverer` on them.

Both processes that send open delivery here: the worker (`engine.runtime`) and the agent API
mounted in the webhook (`agentapi.app`). This module sits between them and the storage and
provider packages, so neither of those knows the other and the webhook process does not import the
conversation engine (LLM client, flow engine) to send an agent's reply.

- `PgDeliveryStateStore` is the `provider.dlr_store.DeliveryStateStore` the delivery-report
  consumer uses: `load` reads an outbound message's state by (tenant, provider id);
  `compare_and_set` writes a new record only while the stored state is still the expected one.
- `PgAttemptRecorder` is the `provider.attempts.AttemptRecorder` of `Sender`: it logs every HTTP
  attempt in ``delivery_attempts`` and, for an accepted send, attaches the provider id to the
  reply's message row (creating the row from the request when the engine did not record it),
  which is what lets delivery reports find the message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from supportbot.messages import DeliveryState
from supportbot.provider.attempts import DeliveryAttempt
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer
from supportbot.provider.dlr import DeliveryRecord
from supportbot.provider.indoubt import InDoubtResolver
from supportbot.provider.interface import AttemptOutcome, Provider, ProviderName
from supportbot.provider.select import open_provider
from supportbot.settings import BotSettings
from supportbot.storage import delivery, history
from supportbot.storage.db import Pool, connection, maybe_datetime, to_datetime

_COMPARE_AND_SET = """
UPDATE messages SET
    delivery_state = $4,
    delivery_updated_at = COALESCE($7, now()),
    delivery_error_code = $5,
    delivery_error_reason = $6,
    sent_at = CASE WHEN $4 = 'sent' THEN COALESCE(sent_at, $7, now()) ELSE sent_at END,
    delivered_at = CASE WHEN $4 = 'delivered' THEN COALESCE(delivered_at, $7, now())
                        ELSE delivered_at END,
    read_at = CASE WHEN $4 = 'read' THEN COALESCE(read_at, $7, now()) ELSE read_at END,
    failed_at = CASE WHEN $4 = 'failed' THEN COALESCE(failed_at, $7, now()) ELSE failed_at END
WHERE tenant_id = $1 AND provider_message_id = $2 AND COALESCE(delivery_state, 'queued') = $3
"""


class PgDeliveryStateStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def load(self, tenant_id: str, provider_message_id: str) -> DeliveryRecord | None:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(
                "SELECT delivery_state, delivery_updated_at, delivery_error_code,"
                " delivery_error_reason FROM messages"
                " WHERE tenant_id = $1 AND provider_message_id = $2",
                tenant_id,
                provider_message_id,
            )
        if row is None:
            return None
        updated: datetime | None = row["delivery_updated_at"]
        return DeliveryRecord(
            provider_message_id=provider_message_id,
            state=DeliveryState(row["delivery_state"] or DeliveryState.QUEUED.value),
            updated_at=None if updated is None else updated.timestamp(),
            error_code=row["delivery_error_code"],
            error_reason=row["delivery_error_reason"],
        )

    async def compare_and_set(
        self, tenant_id: str, expected: DeliveryState, record: DeliveryRecord
    ) -> bool:
        """Write `record` if the stored state is still `expected`; fills the state's own
        timestamp column (sent_at, delivered_at, ...) the first time."""
        async with connection(self._pool) as conn:
            status = await conn.execute(
                _COMPARE_AND_SET,
                tenant_id,
                record.provider_message_id,
                expected.value,
                record.state.value,
                record.error_code,
                record.error_reason,
                maybe_datetime(record.updated_at),
            )
        return status.rsplit(" ", 1)[-1] != "0"


def _describe_meta(body: dict[str, Any]) -> tuple[str, str | None]:
    """(kind, text) of a Graph send body (``type`` + its object)."""
    kind = str(body.get("type") or "")
    found = body.get(kind)
    inner: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "text":
        return "text", inner.get("body")
    if kind == "interactive":
        return ("buttons" if inner.get("type") == "button" else "list"), (
            inner.get("body") or {}
        ).get("text")
    if kind == "template":
        return "template", inner.get("name")
    return kind or "text", inner.get("caption")


def _describe(body: dict[str, Any]) -> tuple[str, str | None]:
    """(kind, text) of an MSG91 or Graph send body, for a reply the engine did not record
    (pure)."""
    if body.get("messaging_product") == "whatsapp":
        return _describe_meta(body)
    content = body.get("content_type")
    if content == "text":
        return "text", body.get("text")
    if content == "interactive":
        inner = body.get("interactive") or {}
        kind = "buttons" if inner.get("type") == "button" else "list"
        return kind, (inner.get("body") or {}).get("text")
    payload = body.get("payload") or {}
    template = payload.get("template") or {}
    return "template", template.get("name")


class PgAttemptRecorder:
    def __init__(self, pool: Pool, provider: ProviderName = "msg91") -> None:
        self._pool = pool
        self._body_key = f"{provider}_request"

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        pid = attempt.provider_message_id or attempt.request_id
        turn_id, seq = attempt.turn_id, attempt.seq
        started = datetime.fromtimestamp(attempt.started_at, UTC)
        if attempt.outcome is AttemptOutcome.ACCEPTED and pid is not None:
            if turn_id is None or seq is None:
                turn_id, seq = f"send:{pid}", 0
            kind, text = _describe(attempt.request_body)
            await history.record_outbound_payload(
                self._pool,
                attempt.tenant_id,
                attempt.customer_id,
                turn_id,
                seq,
                kind=kind,
                text=text,
                body={self._body_key: attempt.request_body},
                at=started,
            )
            await delivery.update_outbound(
                self._pool,
                attempt.tenant_id,
                turn_id,
                seq,
                DeliveryState.QUEUED,
                provider_message_id=pid,
                at=started,
            )
        await delivery.record_attempt(
            self._pool,
            attempt.tenant_id,
            turn_id=turn_id,
            seq=seq,
            attempt=attempt.attempt,
            http_status=attempt.http_status,
            error=attempt.error_reason,
            duration_ms=attempt.duration_seconds * 1000.0,
            at=to_datetime(started),
            outcome=attempt.outcome.value,
            error_code=attempt.error_code,
            provider_message_id=attempt.provider_message_id,
            request_id=attempt.request_id,
            rate_limit_wait_ms=attempt.rate_limit_wait_seconds * 1000.0,
        )


@asynccontextmanager
async def open_delivery(
    settings: BotSettings,
    redis: aioredis.Redis,
    pool: Pool,
    *,
    retry_policy: RetryPolicy | None = None,
) -> AsyncIterator[tuple[Provider, Deliverer]]:
    """The tenant's provider and the `Deliverer` on it (shared rate limit, attempts recorded in
    PostgreSQL, the tenant's out-of-window template, in-doubt sends checked against delivery
    reports). Used by the worker and the agent API."""
    async with open_provider(settings) as provider:
        in_doubt = InDoubtResolver(redis, settings.tenant_id, PgDeliveryStateStore(pool))
        deliverer = Deliverer.from_settings(
            settings,
            redis,
            provider,
            recorder=PgAttemptRecorder(pool, provider.name),
            policy=retry_policy,
            in_doubt=in_doubt,
        )
        yield provider, deliverer
