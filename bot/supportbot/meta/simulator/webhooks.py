"""Webhook bodies as Meta posts them (pure): the Cloud API envelope around inbound messages and
statuses (shared/reference/msg91-whatsapp.md §2.1).

``{"object":"whatsapp_business_account","entry":[{"id":<WABA id>,"changes":[{"field":"messages",
"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number","phone_number_id"},
"contacts":[…],"messages":[…]}}]}]}``; statuses replace contacts/messages with ``statuses[]``
(``id, status, timestamp, recipient_id``; ``conversation`` + ``pricing`` on success, ``errors[]``
with ``code, title, message, error_data.details, href`` on failure). Customers with a BSUID and
no phone get ``contacts[].user_id`` and ``from_user_id`` (field names unconfirmed, §2.9).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
]
MEDIA = ("image", "document", "audio", "video", "sticker")
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

FAILURES: dict[int, tuple[str, str]] = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131026: ("Message undeliverable", "Message undeliverable"),
    131051: ("Unsupported message type", "Message type is currently not supported."),
    132001: ("Template name does not exist in the translation", "template name does not exist"),
}


class InboundSpec(BaseModel):
    """A customer message to emit (``POST /_sim/inbound``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    phone: str | None = Field(default=None, alias="from")
    bsuid: str | None = None
    name: str | None = None
    phone_number_id: str | None = None
    type: InboundType = "text"
    text: str | None = None
    """Text body; button/list reply title; media caption."""
    reply_id: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    emoji: str | None = None
    context_id: str | None = None
    message_id: str | None = None
    ts: float | None = None
    duplicates: int = Field(default=0, ge=0, le=100)
    signature: Literal["valid", "wrong", "none"] = "valid"
    """Sign with the app secret (valid), with another key (wrong), or not at all (none)."""


def waba_id(phone_number_id: str) -> str:
    return str(int(hashlib.sha256(("waba" + phone_number_id).encode()).hexdigest()[:12], 16))


def envelope(phone_number_id: str, display: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id(phone_number_id),
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def _message(spec: InboundSpec, display: str, wamid: str, ts: float) -> dict[str, Any]:
    msg: dict[str, Any] = {"id": wamid, "timestamp": str(int(ts)), "type": spec.type}
    if spec.phone:
        msg["from"] = spec.phone
    if spec.bsuid:
        msg["from_user_id"] = spec.bsuid
    if spec.context_id and spec.type != "reaction":
        msg["context"] = {"from": display, "id": spec.context_id}
    t = spec.type
    if t == "text":
        msg["text"] = {"body": spec.text or ""}
    elif t in ("button_reply", "list_reply"):
        msg["type"] = "interactive"
        msg["interactive"] = {"type": t, t: {"id": spec.reply_id or "", "title": spec.text or ""}}
    elif t == "button":
        msg["button"] = {"text": spec.text or "", "payload": spec.reply_id or spec.text or ""}
    elif t in MEDIA:
        media: dict[str, Any] = {
            "id": spec.media_id or hashlib.sha256(wamid.encode()).hexdigest()[:16],
            "mime_type": spec.mime_type or _MIME[t],
            "sha256": hashlib.sha256(wamid.encode()).hexdigest(),
        }
        if spec.text and t != "sticker":
            media["caption"] = spec.text
        msg[t] = media
    elif t == "location":
        msg["location"] = {"latitude": spec.latitude or 0.0, "longitude": spec.longitude or 0.0}
    else:
        msg["reaction"] = {"message_id": spec.context_id or "", "emoji": spec.emoji or "👍"}
    return msg


_MIME = {
    "image": "image/jpeg",
    "document": "application/pdf",
    "audio": "audio/ogg; codecs=opus",
    "video": "video/mp4",
    "sticker": "image/webp",
}


def inbound(
    spec: InboundSpec, phone_number_id: str, display: str, wamid: str, ts: float
) -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": spec.name or ""}}
    if spec.phone:
        contact["wa_id"] = spec.phone
    if spec.bsuid:
        contact["user_id"] = spec.bsuid
    value = {"contacts": [contact], "messages": [_message(spec, display, wamid, ts)]}
    return envelope(phone_number_id, display, value)


def status(
    phone_number_id: str,
    display: str,
    *,
    message_id: str,
    recipient: str,
    state: str,
    ts: float,
    kind: str = "text",
    error_code: int | None = None,
    error_details: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": str(int(ts)),
    }
    # a BSUID recipient: ``recipient_user_id`` (the 2026 field name is unconfirmed, §2.9)
    item["recipient_id" if recipient.isdigit() else "recipient_user_id"] = recipient
    if state == "failed":
        code = error_code or 131026
        title, details = FAILURES.get(code, ("Failed", "Failed"))
        item["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": error_details or details},
                "href": ERROR_HREF,
            }
        ]
    elif state == "sent":
        category = "utility" if kind == "template" else "service"
        item["conversation"] = {
            "id": hashlib.sha256(recipient.encode()).hexdigest()[:32],
            "origin": {"type": category},
            "expiration_timestamp": str(int(ts) + 24 * 3600),
        }
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
    return envelope(phone_number_id, display, {"statuses": [item]})
