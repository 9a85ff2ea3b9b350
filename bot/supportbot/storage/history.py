"""Writes of the conversation history: conversations, inbound and outbound messages, turns.
(Handoff and opt-out state: `handoff`.)

Idempotency lives in the database: an inbound message is stored once per (tenant, provider
message id) and an outbound reply once per (tenant, turn id, seq), so a redelivered webhook or a
retried turn never duplicates rows. Every statement is parameterized and filtered on tenant_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from supportbot.messages import DeliveryState, InboundMessage, OutboundMessage
from supportbot.storage.db import (
    Connection,
    Pool,
    connection,
    jsonable,
    maybe_datetime,
    to_datetime,
)
from supportbot.storage.models import Conversation, MediaRef, OutboundRecord, TurnRecord

_UPSERT_CONVERSATION = """
INSERT INTO conversations AS c
    (tenant_id, customer_id, phone, bsuid, name, created_at,
     last_inbound_at, last_outbound_at, last_activity_at)
VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, $8::timestamptz,
        COALESCE(GREATEST($7::timestamptz, $8::timestamptz), $6::timestamptz))
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    phone = CASE WHEN c.last_inbound_at > EXCLUDED.last_inbound_at
                 THEN COALESCE(c.phone, EXCLUDED.phone) ELSE COALESCE(EXCLUDED.phone, c.phone) END,
    bsuid = CASE WHEN c.last_inbound_at > EXCLUDED.last_inbound_at
                 THEN COALESCE(c.bsuid, EXCLUDED.bsuid) ELSE COALESCE(EXCLUDED.bsuid, c.bsuid) END,
    name = CASE WHEN c.last_inbound_at > EXCLUDED.last_inbound_at
                THEN COALESCE(c.name, EXCLUDED.name) ELSE COALESCE(EXCLUDED.name, c.name) END,
    last_inbound_at = GREATEST(c.last_inbound_at, EXCLUDED.last_inbound_at),
    last_outbound_at = GREATEST(c.last_outbound_at, EXCLUDED.last_outbound_at),
    last_activity_at = GREATEST(c.last_activity_at, $7, $8)
RETURNING *
"""

ENSURE_CONVERSATION = """
INSERT INTO conversations (tenant_id, customer_id, created_at, last_activity_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (tenant_id, customer_id) DO NOTHING
"""

_INSERT_INBOUND = """
INSERT INTO messages
    (tenant_id, customer_id, direction, author, provider_message_id, kind, text, body,
     provider_ts, created_at,
     media_url, media_id, media_mime, media_size, media_caption, media_filename)
VALUES ($1, $2, 'inbound', 'customer', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant_id, provider_message_id) DO NOTHING
RETURNING id
"""

_INSERT_OUTBOUND = """
INSERT INTO messages
    (tenant_id, customer_id, direction, author, turn_id, seq, kind, text, body,
     delivery_state, delivery_error_code, delivery_error_reason, delivery_updated_at,
     failed_at, created_at,
     media_url, media_id, media_mime, media_size, media_caption, media_filename)
VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7, $8, $9::text, $10, $11, $12::timestamptz,
        CASE WHEN $9::text = 'failed' THEN $12::timestamptz END, $12::timestamptz,
        $13, $14, $15, $16, $17, $18)
ON CONFLICT (tenant_id, turn_id, seq) DO NOTHING
RETURNING id, provider_message_id, delivery_state
"""

_SELECT_OUTBOUND = """
SELECT id, provider_message_id, delivery_state FROM messages
WHERE tenant_id = $1 AND turn_id = $2 AND seq = $3
"""

_UPSERT_TURN = """
INSERT INTO turns
    (tenant_id, customer_id, turn_id, attempt, model, prompt_tokens, completion_tokens,
     cost, latency_ms, outcome, error, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, turn_id, attempt) DO UPDATE SET
    model = EXCLUDED.model,
    prompt_tokens = EXCLUDED.prompt_tokens,
    completion_tokens = EXCLUDED.completion_tokens,
    cost = EXCLUDED.cost,
    latency_ms = EXCLUDED.latency_ms,
    outcome = EXCLUDED.outcome,
    error = EXCLUDED.error
RETURNING id
"""


async def _upsert_conversation(
    conn: Connection,
    tenant_id: str,
    customer_id: str,
    *,
    phone: str | None,
    bsuid: str | None,
    name: str | None,
    at: datetime,
    inbound_at: datetime | None,
    outbound_at: datetime | None,
) -> Conversation:
    row = await conn.fetchrow(
        _UPSERT_CONVERSATION,
        tenant_id,
        customer_id,
        phone,
        bsuid,
        name,
        at,
        inbound_at,
        outbound_at,
    )
    assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns the row
    return Conversation.from_row(row)


async def upsert_conversation(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    *,
    phone: str | None = None,
    bsuid: str | None = None,
    name: str | None = None,
    at: float | datetime | None = None,
) -> Conversation:
    """Create the conversation or fill in identity fields (non-null values win, except that a
    message older than the latest inbound one never overwrites what the newer one said)."""
    async with connection(pool) as conn:
        return await _upsert_conversation(
            conn,
            tenant_id,
            customer_id,
            phone=phone,
            bsuid=bsuid,
            name=name,
            at=to_datetime(at),
            inbound_at=None,
            outbound_at=None,
        )


def inbound_media(msg: InboundMessage) -> MediaRef | None:
    """The media reference of a customer message (None: not a media message). Pure."""
    if not msg.has_media:
        return None
    size, filename = msg.extra.get("size"), msg.extra.get("filename")
    return MediaRef(
        url=msg.media_url,
        media_id=msg.media_id,
        mime=msg.media_mime,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        caption=msg.text,
        filename=filename if isinstance(filename, str) else None,
    )


def outbound_media(message: OutboundMessage) -> MediaRef | None:
    """The media reference of a reply (a template's media header included). Pure."""
    if message.is_media:
        return MediaRef(
            url=message.media_url,
            mime=message.media_mime,
            size=message.media_size,
            caption=message.text or None,
            filename=message.media_filename,
        )
    if message.template_header_url:
        return MediaRef(url=message.template_header_url)
    return None


def _media_args(ref: MediaRef | None) -> tuple[Any, ...]:
    if ref is None:
        return (None,) * 6
    return (ref.url, ref.media_id, ref.mime, ref.size, ref.caption, ref.filename)


async def record_inbound(pool: Pool, messages: Sequence[InboundMessage]) -> list[str]:
    """Store customer messages (one transaction); return the ids that were new.

    Upserts each conversation (identity fields, last_inbound_at for the 24 h window).
    Messages already stored (same tenant and provider id) are skipped.
    """
    new: list[str] = []
    if not messages:
        return new
    async with connection(pool) as conn, conn.transaction():
        latest: dict[tuple[str, str], InboundMessage] = {}
        earliest: dict[tuple[str, str], float] = {}
        for msg in messages:
            key = (msg.tenant_id, msg.customer_id)
            if key not in latest or msg.received_at >= latest[key].received_at:
                latest[key] = msg
            earliest[key] = min(earliest.get(key, msg.received_at), msg.received_at)
        for (tenant_id, customer_id), msg in sorted(latest.items()):
            await _upsert_conversation(
                conn,
                tenant_id,
                customer_id,
                phone=msg.phone,
                bsuid=msg.bsuid,
                name=msg.customer_name,
                at=to_datetime(earliest[(tenant_id, customer_id)]),
                inbound_at=to_datetime(msg.received_at),
                outbound_at=None,
            )
        for msg in messages:
            inserted = await conn.fetchval(
                _INSERT_INBOUND,
                msg.tenant_id,
                msg.customer_id,
                msg.message_id,
                msg.kind.value,
                msg.text,
                jsonable(asdict(msg)),
                maybe_datetime(msg.sent_at),
                to_datetime(msg.received_at),
                *_media_args(inbound_media(msg)),
            )
            if inserted is not None:
                new.append(msg.message_id)
    return new


async def record_outbound(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    turn_id: str,
    seq: int,
    message: OutboundMessage,
    *,
    replaces: OutboundMessage | None = None,
    author: str = "bot",
    state: DeliveryState = DeliveryState.QUEUED,
    error_code: str | None = None,
    error_reason: str | None = None,
    at: float | datetime | None = None,
) -> OutboundRecord:
    """Store the `seq`-th reply of a turn once; a retried turn gets the existing row back.

    The one mapping of an `OutboundMessage` to its row. `replaces` is the reply `message` stands
    in for (the out-of-window template), kept in the body. `author` is 'bot' or 'agent:<id>'.
    Record before sending; attach the provider id with `delivery.update_outbound` after the send
    succeeds (the MSG91 attempt recorder in `outbound.PgAttemptRecorder` does that for accepted
    sends).
    """
    body = jsonable(asdict(message))
    if replaces is not None:
        body["replaces"] = jsonable(asdict(replaces))
    return await record_outbound_payload(
        pool,
        tenant_id,
        customer_id,
        turn_id,
        seq,
        kind=message.kind.value,
        text=message.text or message.template_name or message.media_filename,
        body=body,
        media=outbound_media(message),
        author=author,
        state=state,
        error_code=error_code,
        error_reason=error_reason,
        at=at,
    )


async def record_outbound_payload(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    turn_id: str,
    seq: int,
    *,
    kind: str,
    text: str | None,
    body: dict[str, Any],
    media: MediaRef | None = None,
    author: str = "bot",
    state: DeliveryState = DeliveryState.QUEUED,
    error_code: str | None = None,
    error_reason: str | None = None,
    at: float | datetime | None = None,
) -> OutboundRecord:
    """`record_outbound` for a message known only as its stored fields."""
    when = to_datetime(at)
    async with connection(pool) as conn, conn.transaction():
        await _upsert_conversation(
            conn,
            tenant_id,
            customer_id,
            phone=None,
            bsuid=None,
            name=None,
            at=when,
            inbound_at=None,
            outbound_at=when,
        )
        row = await conn.fetchrow(
            _INSERT_OUTBOUND,
            tenant_id,
            customer_id,
            author,
            turn_id,
            seq,
            kind,
            text,
            body,
            state.value,
            error_code,
            error_reason,
            when,
            *_media_args(media),
        )
        created = row is not None
        if row is None:
            row = await conn.fetchrow(_SELECT_OUTBOUND, tenant_id, turn_id, seq)
            assert row is not None  # the conflicting row is committed and visible now
    current = row["delivery_state"]
    return OutboundRecord(
        id=row["id"],
        created=created,
        provider_message_id=row["provider_message_id"],
        delivery_state=None if current is None else DeliveryState(current),
    )


async def record_turn(pool: Pool, turn: TurnRecord) -> int:
    """Store (or overwrite) the record of one attempt of a turn; returns its row id."""
    when = to_datetime(turn.at)
    async with connection(pool) as conn, conn.transaction():
        await conn.execute(ENSURE_CONVERSATION, turn.tenant_id, turn.customer_id, when)
        row_id = await conn.fetchval(
            _UPSERT_TURN,
            turn.tenant_id,
            turn.customer_id,
            turn.turn_id,
            turn.attempt,
            turn.model,
            turn.prompt_tokens,
            turn.completion_tokens,
            turn.cost,
            turn.latency_ms,
            turn.outcome,
            turn.error,
            when,
        )
    return int(row_id)
