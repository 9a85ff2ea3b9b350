"""MSG91's flat webhook payloads ("Webhook (New)" templates): inbound messages and DLRs.

Field values are strings; nested objects arrive as stringified JSON; unfilled fields are ``""``,
``"null"`` or ``"{{field}}"`` (see msg91 reference §1.2). A payload is a delivery report when
``direction`` is ``outbound``, or when it carries a known status word and no message content;
everything else is an inbound message. The message's content is rebuilt as a Meta message object
(flat fields first, the raw Meta object MSG91 relays in ``messages`` as fallback) and read by
:mod:`content`, so both families share one set of rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supportbot.messages import DeliveryReport, DeliveryState, InboundMessage, MessageKind
from supportbot.webhook.parsing import content, results, values
from supportbot.webhook.parsing.errors import ParseError
from supportbot.webhook.parsing.results import ParsedItem

_CONTENT_FIELDS = (
    "text", "interactive", "button", "url", "caption", "messages", "latitude", "contacts",
    "reaction", "messageType", "contentType",
)  # fmt: skip
_PHONE_FIELDS = ("customerNumber", "customer_number", "mobile")
_BSUID_FIELDS = ("bsuid", "userId", "user_id")


def parse(doc: Mapping[str, Any], *, raw: bytes, tenant_id: str, received_at: float) -> ParsedItem:
    number = results.business_number(values.field(doc, "integratedNumber", "integrated_number"))
    if is_report(doc):
        return ParsedItem(number, _report(doc, tenant_id=tenant_id, received_at=received_at))
    return ParsedItem(number, _message(doc, raw=raw, tenant_id=tenant_id, received_at=received_at))


def is_report(doc: Mapping[str, Any]) -> bool:
    if values.lower(doc, "direction") == "outbound":
        return True
    word = values.lower(doc, "status", "eventName")
    has_content = any(not values.is_missing(doc.get(name)) for name in _CONTENT_FIELDS)
    return word in results.STATES and not has_content


def _relayed(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The raw Meta message object MSG91 may relay in ``messages`` (array or object)."""
    relayed = values.maybe_json(values.field(doc, "messages"))
    if isinstance(relayed, list):
        relayed = next((m for m in relayed if isinstance(m, dict)), None)
    return relayed if isinstance(relayed, dict) else {}


def _type_name(doc: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """messageType first (contentType may say 'referral' for a text), then the relayed type."""
    names = [values.lower(doc, "messageType"), values.lower(doc, "contentType")]
    names.append(values.lower(meta, "type"))
    known = next((n for n in names if n in content.KIND_BY_TYPE), None)
    if known is None and values.text(doc, "text") is not None:
        return "text"
    return known or next((n for n in names if n), None)


def _text_body(doc: Mapping[str, Any], meta_detail: Any) -> str | None:
    """text -> messages[0].text.body -> content -> button -> caption (never referral.body)."""
    relayed = values.mapping(meta_detail)
    button = values.maybe_json(values.field(doc, "button"))
    for candidate in (
        values.text(doc, "text"),
        values.text(relayed, "body") if relayed else None,
        values.text(doc, "content"),
        values.text(button, "text", "title") if isinstance(button, dict) else None,
        button if isinstance(button, str) else None,
        values.text(doc, "caption"),
    ):
        if candidate is not None:
            return candidate
    return None


def _detail(doc: Mapping[str, Any], kind: MessageKind, meta_detail: Any) -> Any:
    """The Meta-shaped ``<type>`` object for `kind`, flat fields winning over the relayed one."""
    if kind is MessageKind.TEXT:
        return {"body": _text_body(doc, meta_detail)}
    if kind is MessageKind.INTERACTIVE:
        return values.mapping(values.field(doc, "interactive")) or meta_detail
    if kind is MessageKind.BUTTON:
        flat = values.maybe_json(values.field(doc, "button"))
        return flat if flat is not None else meta_detail
    if kind is MessageKind.CONTACTS:
        return values.listing(values.field(doc, "contacts")) or meta_detail
    if kind is MessageKind.REACTION:
        flat = values.maybe_json(values.field(doc, "reaction"))
        return flat if flat is not None else meta_detail
    if kind is MessageKind.LOCATION:
        flat = {k: values.field(doc, k) for k in ("latitude", "longitude", "name", "address")}
    elif kind in content.MEDIA_KINDS:
        flat = {
            "link": values.text(doc, "url", "mediaUrl", "media_url"),
            "caption": values.text(doc, "caption"),
            "mime_type": values.text(doc, "mimeType", "mime_type"),
            "filename": values.text(doc, "filename", "fileName"),
            "file_size": values.field(doc, "fileSize", "file_size"),
        }
    else:
        return meta_detail
    merged = dict(values.mapping(meta_detail) or {})
    merged.update({k: v for k, v in flat.items() if v is not None})
    return merged


def _message(
    doc: Mapping[str, Any], *, raw: bytes, tenant_id: str, received_at: float
) -> InboundMessage:
    meta = _relayed(doc)
    who = results.sender(
        values.field(doc, *_PHONE_FIELDS) or meta.get("from"),
        values.field(doc, *_BSUID_FIELDS) or meta.get("from_user_id"),
    )
    message_id = (
        values.message_id(values.field(doc, "uuid", "message_uuid", "messageId"))
        or values.message_id(meta.get("id"))
        or values.message_id(values.field(doc, "requestId", "request_id"))
        or values.body_hash(raw)
    )
    type_name = _type_name(doc, meta)
    kind = content.kind_of(type_name)
    found: content.Content | None = None
    if type_name is not None and kind is not MessageKind.UNKNOWN:
        synthetic = {**meta, "type": type_name}
        synthetic[type_name] = _detail(doc, kind, values.field(meta, type_name))
        found = content.from_meta(synthetic)
    if found is None or found.kind is MessageKind.UNKNOWN:  # keep MSG91's own payload
        found = content.unknown(type_name, values.clean_payload(doc))
    extra: dict[str, Any] = {}
    request_id = values.message_id(values.field(doc, "requestId", "request_id"))
    if request_id:
        extra["request_id"] = request_id
    expires = values.timestamp(values.field(doc, "conversationExpTimestamp"))
    if expires is not None:
        extra["conversation_expires_at"] = expires
    reply_to = values.message_id(values.field(doc, "replyMsgId"))
    if reply_to and "reply_to" not in found.extra:
        extra["reply_to"] = reply_to
    return results.inbound(
        tenant_id=tenant_id,
        who=who,
        message_id=message_id,
        content=found,
        received_at=received_at,
        customer_name=values.text(doc, "customerName", "customer_name"),
        sent_at=values.timestamp(values.field(doc, "ts", "timestamp", "requestedAt"))
        or values.timestamp(meta.get("timestamp")),
        extra=extra,
    )


def _report(doc: Mapping[str, Any], *, tenant_id: str, received_at: float) -> DeliveryReport:
    state = results.state(values.lower(doc, "status", "eventName"))
    request_id = values.message_id(values.field(doc, "requestId", "request_id"))
    uuid = values.message_id(values.field(doc, "uuid", "message_uuid"))
    provider_id = request_id or uuid
    if provider_id is None:
        raise ParseError("missing_message_id", "the status report names no requestId or uuid")
    phone = values.phone_digits(values.field(doc, *_PHONE_FIELDS))
    customer = values.bsuid(values.field(doc, *_BSUID_FIELDS)) or phone
    extra: dict[str, Any] = {"provider": "msg91"}
    for key, names in (
        ("request_id", ("requestId", "request_id")),
        ("uuid", ("uuid", "message_uuid")),
        ("template_name", ("templateName",)),
        ("campaign_name", ("campaignName",)),
        ("price", ("price",)),
        ("status_word", ("status", "eventName")),
    ):
        value = values.text(doc, *names)
        if value is not None:
            extra[key] = value
    failed = state is DeliveryState.FAILED
    return DeliveryReport(
        tenant_id=tenant_id,
        provider_message_id=provider_id,
        state=state,
        received_at=received_at,
        occurred_at=values.timestamp(values.field(doc, "statusUpdatedAt", "ts", "requestedAt")),
        customer_id=customer,
        error_code=values.text(doc, "statusCode", "errorCode", "failureCode") if failed else None,
        error_reason=values.text(doc, "failureReason", "reason"),
        extra=extra,
    )
