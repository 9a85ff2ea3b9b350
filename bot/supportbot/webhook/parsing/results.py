"""What the parser returns, and the shared steps that build the provider-neutral values.

An item is an `InboundMessage` or a `DeliveryReport`, each with the business number the payload
claims it belongs to (MSG91 `integratedNumber`, Meta `metadata.display_phone_number`), which the
app checks against the tenant's number. Items that could not be parsed are kept as errors next to
the good ones, so one bad entry in a Meta batch does not lose the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from supportbot.messages import DeliveryReport, DeliveryState, InboundMessage
from supportbot.webhook.parsing import values
from supportbot.webhook.parsing.content import Content
from supportbot.webhook.parsing.errors import ParseError

Family = Literal["msg91", "meta"]

# Provider status words -> our states. Unknown words are rejected (422), never guessed.
STATES: dict[str, DeliveryState] = {
    "queued": DeliveryState.QUEUED,
    "submitted": DeliveryState.QUEUED,
    "accepted": DeliveryState.QUEUED,
    "pending": DeliveryState.QUEUED,
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "seen": DeliveryState.READ,
    "played": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
    "undelivered": DeliveryState.FAILED,
    "rejected": DeliveryState.FAILED,
}


@dataclass(frozen=True, slots=True)
class ParsedItem:
    business_number: str | None
    """Digits of the business number named by the payload; None if it names none."""
    value: InboundMessage | DeliveryReport
    phone_number_id: str | None = None
    """Meta envelopes: ``metadata.phone_number_id`` (the Cloud API id); None elsewhere."""


@dataclass(frozen=True, slots=True)
class ParsedPayload:
    family: Family
    items: tuple[ParsedItem, ...]
    rejected: tuple[ParseError, ...] = ()

    @property
    def messages(self) -> list[InboundMessage]:
        return [i.value for i in self.items if isinstance(i.value, InboundMessage)]

    @property
    def reports(self) -> list[DeliveryReport]:
        return [i.value for i in self.items if isinstance(i.value, DeliveryReport)]


@dataclass(frozen=True, slots=True)
class Sender:
    customer_id: str
    phone: str | None
    bsuid: str | None


def sender(phone_value: Any, bsuid_value: Any) -> Sender:
    """customer_id = the BSUID when present, else the phone digits; neither -> ParseError."""
    phone = values.phone_digits(phone_value)
    user = values.bsuid(bsuid_value)
    customer = user or phone
    if customer is None:
        present = not (values.is_missing(phone_value) and values.is_missing(bsuid_value))
        raise ParseError(
            "invalid_field" if present else "missing_sender",
            "the sender's phone number / BSUID is not usable"
            if present
            else "the payload names no sender (customer number or BSUID)",
        )
    return Sender(customer, phone, user)


def state(word: str | None) -> DeliveryState:
    if word is None:
        raise ParseError("unknown_delivery_state", "the status report carries no status")
    found = STATES.get(word.strip().lower())
    if found is None:
        raise ParseError("unknown_delivery_state", "the status report's status is not known")
    return found


def business_number(value: Any) -> str | None:
    return values.phone_digits(value)


def inbound(
    *,
    tenant_id: str,
    who: Sender,
    message_id: str,
    content: Content,
    received_at: float,
    customer_name: str | None,
    sent_at: float | None,
    extra: Mapping[str, Any] | None = None,
) -> InboundMessage:
    return InboundMessage(
        tenant_id=tenant_id,
        customer_id=who.customer_id,
        message_id=message_id,
        kind=content.kind,
        received_at=received_at,
        phone=who.phone,
        bsuid=who.bsuid,
        text=content.text,
        reply_id=content.reply_id,
        media_url=content.media_url,
        media_mime=content.media_mime,
        customer_name=customer_name,
        sent_at=sent_at,
        extra={**content.extra, **(extra or {})},
    )
