"""What the simulator is asked to emit (pure values): customer messages (`InboundSpec`, the body
of ``POST /_sim/inbound``) and delivery reports (`StatusEvent`), plus the Meta failure texts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from supportbot.msg91.simulator.config import TsFormat

InboundType = Literal[
    "text",
    "button_reply",
    "list_reply",
    "button",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "reaction",
    "contacts",
    "unsupported",
]

FAILURES: dict[str, tuple[str, str]] = {
    "131047": (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    "132000": (
        "Number of parameters does not match the expected number of params",
        "body: number of localizable_params does not match the expected number of params",
    ),
    "132001": (
        "Template name does not exist in the translation",
        "template name does not exist in the language",
    ),
    "131026": ("Message undeliverable", "Message undeliverable"),
}


class InboundSpec(BaseModel):
    """A customer message to emit (``POST /_sim/inbound``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    phone: str | None = Field(default=None, alias="from")
    bsuid: str | None = None
    name: str | None = None
    integrated_number: str | None = None
    type: InboundType = "text"
    text: str | None = None
    """Text body; button/list reply title; media caption."""
    reply_id: str | None = None
    description: str | None = None
    url: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    emoji: str | None = None
    context_id: str | None = None
    """wamid the customer replied to / reacted to."""
    message_id: str | None = None
    ts: float | None = None
    format: Literal["msg91", "meta"] | None = None
    ts_format: TsFormat | None = None
    duplicates: int = Field(default=0, ge=0, le=100)
    """Extra identical POSTs of the same payload (providers deliver at least once)."""


@dataclass(frozen=True, slots=True)
class StatusEvent:
    message_id: str
    request_id: str
    integrated_number: str
    to: str
    status: str
    ts: float
    kind: str = "text"
    template_name: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
