"""Request and response bodies of the agent API (pydantic; they make the OpenAPI document), and
the conversions from storage rows. Errors use the bot's one shape:
``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from supportbot.agentapi.fields import MessageText, StorableText
from supportbot.provider.deliverer import ReplyOutcome
from supportbot.provider.window import window_open
from supportbot.storage.csat import Survey
from supportbot.storage.export import shared_place
from supportbot.storage.models import Conversation, MediaRef, MessageRecord


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(
        default=None,
        description="Only on 422: the first invalid input, e.g. `query.before_id`, `body.text`.",
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class ConversationOut(BaseModel):
    customer_id: str = Field(description="Conversation key: the BSUID, else the phone digits.")
    phone: str | None
    bsuid: str | None
    name: str | None = Field(description="The customer's WhatsApp profile name.")
    created_at: datetime
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    last_activity_at: datetime
    handoff_state: str = Field(description="bot | pending (a human was asked for) | human")
    handoff_agent: str | None
    handoff_reason: str | None
    handoff_since: datetime | None
    opted_out: bool
    opted_out_since: datetime | None
    window_open: bool = Field(
        description="Inside the 24 h customer-service window: free-form replies allowed "
        "(outside it the tenant's template is sent instead)."
    )

    @classmethod
    def of(cls, c: Conversation, now: float) -> ConversationOut:
        last = c.last_inbound_at
        return cls(
            customer_id=c.customer_id,
            phone=c.phone,
            bsuid=c.bsuid,
            name=c.name,
            created_at=c.created_at,
            last_inbound_at=last,
            last_outbound_at=c.last_outbound_at,
            last_activity_at=c.last_activity_at,
            handoff_state=c.handoff_state.value,
            handoff_agent=c.handoff_agent,
            handoff_reason=c.handoff_reason,
            handoff_since=c.handoff_since,
            opted_out=c.opted_out,
            opted_out_since=c.opted_out_since,
            window_open=window_open(last.timestamp() if last else None, now, margin=0.0),
        )


class ConversationPageOut(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class MediaOut(BaseModel):
    """A media reference (the file itself is not stored)."""

    url: str | None = Field(description="Provider download URL, or the link the bot sent.")
    media_id: str | None = Field(description="Meta media id (inbound; expires after ~7 days).")
    mime: str | None
    size: int | None = Field(description="Bytes, when declared.")
    caption: str | None
    filename: str | None

    @classmethod
    def of(cls, ref: MediaRef | None) -> MediaOut | None:
        if ref is None:
            return None
        return cls(
            url=ref.url,
            media_id=ref.media_id,
            mime=ref.mime,
            size=ref.size,
            caption=ref.caption,
            filename=ref.filename,
        )


class MessageOut(BaseModel):
    id: int
    direction: str = Field(description="inbound | outbound")
    author: str = Field(description="customer | bot | agent:<agent id>")
    kind: str
    text: str | None
    body: dict[str, Any]
    provider_message_id: str | None
    turn_id: str | None
    seq: int | None
    delivery_state: str | None = Field(description="queued | sent | delivered | read | failed")
    delivery_error_code: str | None
    delivery_error_reason: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    media: MediaOut | None = Field(
        default=None, description="Image/document/audio/video/sticker reference."
    )
    location: dict[str, Any] | None = Field(
        default=None, description="A shared location: latitude, longitude, name?, address?, url?"
    )
    contacts: list[Any] | None = Field(default=None, description="Shared contact cards (Meta's).")

    @classmethod
    def of(cls, m: MessageRecord) -> MessageOut:
        location, contacts = shared_place(m.kind, m.body)
        return cls(
            id=m.id,
            direction=m.direction.value,
            author=m.author,
            kind=m.kind,
            text=m.text,
            body=m.body,
            provider_message_id=m.provider_message_id,
            turn_id=m.turn_id,
            seq=m.seq,
            delivery_state=None if m.delivery_state is None else m.delivery_state.value,
            delivery_error_code=m.delivery_error_code,
            delivery_error_reason=m.delivery_error_reason,
            created_at=m.created_at,
            sent_at=m.sent_at,
            delivered_at=m.delivered_at,
            read_at=m.read_at,
            failed_at=m.failed_at,
            media=MediaOut.of(m.media),
            location=location,
            contacts=contacts,
        )


class CsatOut(BaseModel):
    """A satisfaction survey of the conversation (one per resolution)."""

    id: int
    trigger: str = Field(description="flow_end | agent_resolved | idle")
    status: str = Field(description="pending | asked | answered | skipped")
    skip_reason: str | None = Field(
        description="Why it was not asked: disabled, opted_out, handed_off, "
        "conversation_continued, window_closed, cooldown, undeliverable."
    )
    created_at: datetime
    asked_at: datetime | None
    rating: int | None = Field(description="1 (worst) to `scale`.")
    scale: int | None
    answered_at: datetime | None

    @classmethod
    def of(cls, s: Survey) -> CsatOut:
        return cls(
            id=s.id,
            trigger=s.trigger,
            status=s.status,
            skip_reason=s.skip_reason,
            created_at=s.created_at,
            asked_at=s.asked_at,
            rating=s.rating,
            scale=s.scale,
            answered_at=s.answered_at,
        )


class ConversationDetailOut(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut] = Field(description="Oldest first.")
    next_before_id: int | None = Field(
        description="Pass as `before_id` to read older messages; null when there are none."
    )
    csat: list[CsatOut] = Field(
        default_factory=list, description="Satisfaction surveys, newest first."
    )


class MediaIn(BaseModel):
    """Media to send by link; checked against WhatsApp's limits before sending (a 422 names
    the broken field): image jpeg/png ≤ 5 MB, video mp4/3gpp ≤ 16 MB, audio ≤ 16 MB, document
    ≤ 100 MB, sticker webp ≤ 100 KB; the size is checked only when given (no HEAD request)."""

    kind: Literal["image", "document", "video", "audio", "sticker"]
    url: StorableText = Field(min_length=1, max_length=2000, description="Public http(s) link.")
    filename: StorableText | None = Field(default=None, max_length=240)
    mime: StorableText | None = Field(default=None, max_length=100)
    size: int | None = Field(default=None, ge=0, le=2**40, description="Bytes, if known.")


class ReplyIn(BaseModel):
    text: MessageText | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="WhatsApp text (≤ 4096 chars; not blank; no U+0000 or lone surrogates); "
        "with `media`: its caption (≤ 1024 chars, image/video/document only).",
    )
    media: MediaIn | None = Field(default=None, description="Send an image/document/... .")

    @model_validator(mode="after")
    def _something(self) -> ReplyIn:
        if self.text is None and self.media is None:
            raise ValueError("give text, media or both")
        return self


class ReplyOutcomeOut(BaseModel):
    seq: int
    status: str = Field(description="sent | template_sent | undeliverable")
    provider_message_id: str | None
    reason: str | None
    error_code: str | None
    replayed: bool = Field(description="Already sent by an earlier call with the same key.")

    @classmethod
    def of(cls, o: ReplyOutcome) -> ReplyOutcomeOut:
        return cls(
            seq=o.seq,
            status=o.status.value,
            provider_message_id=o.provider_message_id,
            reason=o.reason,
            error_code=o.error_code,
            replayed=o.replayed,
        )


class ReplyOut(BaseModel):
    turn_id: str = Field(description="Delivery key; the same Idempotency-Key gives the same id.")
    replies: list[ReplyOutcomeOut]
    conversation: ConversationOut


class HandoffIn(BaseModel):
    reason: StorableText | None = Field(default=None, max_length=200)


class HandbackIn(BaseModel):
    resolved: bool = Field(
        default=False,
        description="The customer's issue is resolved: the bot asks for a satisfaction rating "
        "(if the flow has a `csat` section with `agent_resolved`).",
    )


class AgentOut(BaseModel):
    agent: str
    tenant: str
    expires_at: float
