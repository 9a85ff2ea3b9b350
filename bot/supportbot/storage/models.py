"""Rows the repository returns (frozen dataclasses) and the enums stored in text columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from supportbot.messages import DeliveryState


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HandoffState(StrEnum):
    BOT = "bot"
    """The bot answers."""
    PENDING = "pending"
    """A human was asked for; the bot stays silent until an agent takes it or it is handed back."""
    HUMAN = "human"
    """An agent owns the conversation; the bot stays silent."""


@dataclass(frozen=True, slots=True)
class Conversation:
    tenant_id: str
    customer_id: str
    phone: str | None
    bsuid: str | None
    name: str | None
    created_at: datetime
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    last_activity_at: datetime
    handoff_state: HandoffState
    handoff_agent: str | None
    handoff_reason: str | None
    handoff_since: datetime | None
    opted_out: bool
    opted_out_since: datetime | None

    @property
    def bot_silent(self) -> bool:
        """True while a human owns (or was asked to own) the conversation."""
        return self.handoff_state is not HandoffState.BOT

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Conversation:
        return cls(
            tenant_id=row["tenant_id"],
            customer_id=row["customer_id"],
            phone=row["phone"],
            bsuid=row["bsuid"],
            name=row["name"],
            created_at=row["created_at"],
            last_inbound_at=row["last_inbound_at"],
            last_outbound_at=row["last_outbound_at"],
            last_activity_at=row["last_activity_at"],
            handoff_state=HandoffState(row["handoff_state"]),
            handoff_agent=row["handoff_agent"],
            handoff_reason=row["handoff_reason"],
            handoff_since=row["handoff_since"],
            opted_out=row["opted_out"],
            opted_out_since=row["opted_out_since"],
        )


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A message's media as a reference (migration 0004): never the file itself."""

    url: str | None = None
    """The provider's download URL (MSG91 ``url``) or the link we sent."""
    media_id: str | None = None
    """Meta's media id (inbound; valid about 7 days)."""
    mime: str | None = None
    size: int | None = None
    """Bytes, when the provider or the sender declared it."""
    caption: str | None = None
    filename: str | None = None

    @classmethod
    def of_row(cls, row: Any) -> MediaRef | None:
        """From a ``messages`` row (None when it has no media, or predates migration 0004)."""
        get = row.get
        ref = cls(
            url=get("media_url"),
            media_id=get("media_id"),
            mime=get("media_mime"),
            size=get("media_size"),
            caption=get("media_caption"),
            filename=get("media_filename"),
        )
        return ref if (ref.url or ref.media_id) else None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    tenant_id: str
    customer_id: str
    direction: Direction
    author: str
    """'customer', 'bot', or 'agent:<agent id>'."""
    provider_message_id: str | None
    turn_id: str | None
    seq: int | None
    kind: str
    text: str | None
    body: dict[str, Any]
    provider_ts: datetime | None
    delivery_state: DeliveryState | None
    delivery_error_code: str | None
    delivery_error_reason: str | None
    delivery_updated_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    created_at: datetime
    media: MediaRef | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> MessageRecord:
        state = row["delivery_state"]
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            customer_id=row["customer_id"],
            direction=Direction(row["direction"]),
            author=row["author"],
            provider_message_id=row["provider_message_id"],
            turn_id=row["turn_id"],
            seq=row["seq"],
            kind=row["kind"],
            text=row["text"],
            body=row["body"],
            provider_ts=row["provider_ts"],
            delivery_state=None if state is None else DeliveryState(state),
            delivery_error_code=row["delivery_error_code"],
            delivery_error_reason=row["delivery_error_reason"],
            delivery_updated_at=row["delivery_updated_at"],
            sent_at=row["sent_at"],
            delivered_at=row["delivered_at"],
            read_at=row["read_at"],
            failed_at=row["failed_at"],
            created_at=row["created_at"],
            media=MediaRef.of_row(row),
        )


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """Result of recording an outbound message: `created` is False on a retried turn, and then
    `provider_message_id`/`delivery_state` tell whether it was already sent."""

    id: int
    created: bool
    provider_message_id: str | None
    delivery_state: DeliveryState | None

    @property
    def already_sent(self) -> bool:
        return self.provider_message_id is not None


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One attempt of one turn, as the engine reports it."""

    tenant_id: str
    customer_id: str
    turn_id: str
    attempt: int
    outcome: str
    """e.g. 'replied', 'handoff', 'silent', 'fallback', 'error'."""
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    at: float | datetime | None = None
