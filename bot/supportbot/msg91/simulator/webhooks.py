"""Webhook bodies as MSG91 posts them (pure): inbound messages and delivery reports, in MSG91's
flat "Webhook (New)" shape or Meta's envelope (shared/reference/msg91-whatsapp.md §1.2, §1.3,
§2.1).

Flat shape quirks reproduced on purpose: every value is a string; nested objects (`messages`,
`interactive`, `button`, `reaction`, `contacts`) are stringified JSON; fields that do not apply
carry the literal ``{{field}}`` (or ``""`` with placeholders off); `ts` is ISO with +05:30,
epoch seconds or epoch milliseconds. Users with a BSUID and no phone: flat `customerNumber` is
unfilled and `bsuid` set; Meta envelope gets ``contacts[].user_id`` and ``from_user_id`` instead
of ``wa_id``/``from`` (Meta's 2026 format; field names unconfirmed).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from supportbot.msg91.simulator.config import TsFormat
from supportbot.msg91.simulator.specs import FAILURES, InboundSpec, StatusEvent

MEDIA = ("image", "document", "audio", "video", "sticker")
IST = timezone(timedelta(hours=5, minutes=30))

FLAT_FIELDS = (
    "crqid",
    "companyId",
    "requestedAt",
    "customerNumber",
    "customerName",
    "requestId",
    "reason",
    "uuid",
    "integratedNumber",
    "direction",
    "contentType",
    "messageType",
    "text",
    "content",
    "messages",
    "interactive",
    "button",
    "caption",
    "filename",
    "url",
    "conversationExpTimestamp",
    "ts",
    "bsuid",
    "latitude",
    "longitude",
    "reaction",
    "contacts",
)


def render_ts(ts: float, fmt: TsFormat) -> str:
    if fmt == "epoch":
        return str(int(ts))
    if fmt == "epoch_ms":
        return str(int(ts * 1000))
    return datetime.fromtimestamp(int(ts), IST).isoformat()


def phone_number_id(integrated_number: str) -> str:
    return str(int(hashlib.sha256(integrated_number.encode()).hexdigest()[:12], 16))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def meta_message(spec: InboundSpec, wamid: str, ts: float) -> dict[str, Any]:
    """The Meta `messages[]` object for `spec`."""
    msg: dict[str, Any] = {"id": wamid, "timestamp": str(int(ts)), "type": spec.type}
    if spec.phone:
        msg["from"] = spec.phone
    if spec.bsuid:
        msg["from_user_id"] = spec.bsuid
    if spec.context_id and spec.type != "reaction":
        msg["context"] = {"from": spec.integrated_number, "id": spec.context_id}
    t = spec.type
    if t == "text":
        msg["text"] = {"body": spec.text or ""}
    elif t in ("button_reply", "list_reply"):
        reply: dict[str, Any] = {"id": spec.reply_id or "", "title": spec.text or ""}
        if t == "list_reply" and spec.description:
            reply["description"] = spec.description
        msg["type"] = "interactive"
        msg["interactive"] = {"type": t, t: reply}
    elif t == "button":
        msg["button"] = {"text": spec.text or "", "payload": spec.reply_id or spec.text or ""}
    elif t in MEDIA:
        media: dict[str, Any] = {
            "id": hashlib.sha256(wamid.encode()).hexdigest()[:16],
            "mime_type": spec.mime_type or _default_mime(t),
            "sha256": hashlib.sha256((spec.url or wamid).encode()).hexdigest(),
        }
        if spec.url:
            media["url"] = spec.url
        if spec.text and t != "sticker":
            media["caption"] = spec.text
        if spec.filename and t == "document":
            media["filename"] = spec.filename
        msg[t] = media
    elif t == "location":
        msg["location"] = {"latitude": spec.latitude or 0.0, "longitude": spec.longitude or 0.0}
    elif t == "reaction":
        msg["reaction"] = {"message_id": spec.context_id or "", "emoji": spec.emoji or "👍"}
    elif t == "contacts":
        msg["contacts"] = [
            {"name": {"formatted_name": spec.text or "Contact"}, "phones": [{"phone": "+1555"}]}
        ]
    else:
        msg["type"] = "unsupported"
        msg["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
    return msg


def _default_mime(kind: str) -> str:
    return {
        "image": "image/jpeg",
        "document": "application/pdf",
        "audio": "audio/ogg; codecs=opus",
        "video": "video/mp4",
        "sticker": "image/webp",
    }[kind]


def flat_inbound(
    spec: InboundSpec,
    integrated_number: str,
    wamid: str,
    request_id: str,
    ts: float,
    *,
    ts_format: TsFormat,
    placeholders: bool,
) -> dict[str, str]:
    msg = meta_message(spec, wamid, ts)
    t = msg["type"]
    values: dict[str, str] = {
        "crqid": request_id[:12],
        "companyId": "123456",
        "requestedAt": render_ts(ts, "iso"),
        "customerName": spec.name or "",
        "requestId": request_id,
        "uuid": wamid,
        "integratedNumber": integrated_number,
        "direction": "inbound",
        "contentType": t,
        "messageType": t,
        "messages": _dumps([msg]),
        "conversationExpTimestamp": str(int(ts) + 24 * 3600),
        "ts": render_ts(ts, ts_format),
    }
    if spec.phone:
        values["customerNumber"] = spec.phone
    if spec.bsuid:
        values["bsuid"] = spec.bsuid
    if t == "text":
        values["text"] = values["content"] = msg["text"]["body"]
    elif t == "interactive":
        values["interactive"] = _dumps(msg["interactive"])
    elif t == "button":
        values["button"] = _dumps(msg["button"])
    elif t in MEDIA:
        media = msg[t]
        values["content"] = _dumps(media)
        for key in ("caption", "filename", "url"):
            if key in media:
                values[key] = media[key]
    elif t == "location":
        values["latitude"] = str(msg["location"]["latitude"])
        values["longitude"] = str(msg["location"]["longitude"])
    elif t in ("reaction", "contacts"):
        values[t] = _dumps(msg[t])
    missing = "{{%s}}" if placeholders else ""
    out = {f: values.get(f, missing.replace("%s", f)) for f in FLAT_FIELDS}
    if spec.context_id:
        out["replyMsgId"] = spec.context_id
    return out


def _envelope(integrated_number: str, value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": integrated_number,
            "phone_number_id": phone_number_id(integrated_number),
        },
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": phone_number_id("waba" + integrated_number),
                "changes": [{"field": "messages", "value": value}],
            }
        ],
    }


def meta_inbound(
    spec: InboundSpec, integrated_number: str, wamid: str, ts: float
) -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": spec.name or ""}}
    if spec.phone:
        contact["wa_id"] = spec.phone
    if spec.bsuid:
        contact["user_id"] = spec.bsuid
    spec = spec.model_copy(update={"integrated_number": integrated_number})
    return _envelope(
        integrated_number, {"contacts": [contact], "messages": [meta_message(spec, wamid, ts)]}
    )


def flat_status(event: StatusEvent, *, ts_format: TsFormat, placeholders: bool) -> dict[str, str]:
    template_name = event.template_name or ("{{templateName}}" if placeholders else "")
    return {
        "crqid": event.request_id[:12],
        "companyId": "123456",
        "requestedAt": render_ts(event.ts, "iso"),
        "customerNumber": event.to,
        "requestId": event.request_id,
        "uuid": event.message_id,
        "integratedNumber": event.integrated_number,
        "direction": "outbound",
        "contentType": event.kind,
        "messageType": event.kind,
        "status": event.status,
        "eventName": event.status,
        "reason": event.error_reason or "",
        "failureReason": event.error_reason or "",
        "statusCode": event.error_code or "",
        "templateName": template_name,
        "statusUpdatedAt": render_ts(event.ts, "iso"),
        "ts": render_ts(event.ts, ts_format),
        "price": "0.0000" if event.kind != "template" else "0.1150",
    }


def meta_status(event: StatusEvent) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": event.message_id,
        "status": event.status,
        "timestamp": str(int(event.ts)),
        "recipient_id": event.to,
    }
    if event.status == "failed":
        code = event.error_code or "131026"
        title, details = FAILURES.get(code, (event.error_reason or "Failed", "Failed"))
        status["errors"] = [
            {
                "code": int(code) if code.isdigit() else code,
                "title": title,
                "message": title,
                "error_data": {"details": event.error_reason or details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    elif event.status == "sent":
        category = "utility" if event.kind == "template" else "service"
        status["conversation"] = {
            "id": hashlib.sha256(event.to.encode()).hexdigest()[:32],
            "origin": {"type": category},
            "expiration_timestamp": str(int(event.ts) + 24 * 3600),
        }
        status["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
    return _envelope(event.integrated_number, {"statuses": [status]})
