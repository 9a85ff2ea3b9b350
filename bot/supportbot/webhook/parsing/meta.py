"""Meta's WhatsApp Cloud API envelope: ``entry[].changes[].value.{messages,statuses}[]``.

Some MSG91 accounts relay this envelope unchanged. One post may carry several messages and
statuses across several changes; each becomes its own item, and an item that cannot be parsed is
returned as an error next to the good ones. Changes of other fields (template updates, account
events) carry neither and yield nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from supportbot.messages import DeliveryReport, InboundMessage
from supportbot.webhook.parsing import content, results, values
from supportbot.webhook.parsing.errors import ParseError
from supportbot.webhook.parsing.results import ParsedItem


def is_envelope(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc.get("entry"), list) or doc.get("object") == "whatsapp_business_account"


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _values(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if not isinstance(doc.get("entry"), list):
        raise ParseError("unrecognised_payload", "the Meta envelope has no 'entry' array")
    for entry in _dicts(doc["entry"]):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if isinstance(value, dict):
                yield value


def parse(
    doc: Mapping[str, Any], *, raw: bytes, tenant_id: str, received_at: float
) -> tuple[list[ParsedItem], list[ParseError]]:
    items: list[ParsedItem] = []
    errors: list[ParseError] = []
    index = 0
    for value in _values(doc):
        metadata = value.get("metadata")
        number = results.business_number(
            metadata.get("display_phone_number") if isinstance(metadata, dict) else None
        )
        number_id = values.message_id(
            metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        )
        people = list(_dicts(value.get("contacts")))
        for msg in _dicts(value.get("messages")):
            try:
                message = _message(
                    msg, people, raw=raw, index=index, tenant_id=tenant_id, received_at=received_at
                )
                items.append(ParsedItem(number, message, number_id))
            except ParseError as exc:
                errors.append(exc)
            index += 1
        for status in _dicts(value.get("statuses")):
            try:
                report = _report(status, tenant_id, received_at)
                items.append(ParsedItem(number, report, number_id))
            except ParseError as exc:
                errors.append(exc)
    return items, errors


def _contact(msg: Mapping[str, Any], people: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``contacts[]`` entry of the message's sender (by wa_id or BSUID; a lone one fits)."""
    sender, user = msg.get("from"), msg.get("from_user_id")
    for person in people:
        if (sender and person.get("wa_id") == sender) or (user and person.get("user_id") == user):
            return person
    return people[0] if len(people) == 1 else {}


def _message(
    msg: Mapping[str, Any],
    people: list[dict[str, Any]],
    *,
    raw: bytes,
    index: int,
    tenant_id: str,
    received_at: float,
) -> InboundMessage:
    person = _contact(msg, people)
    who = results.sender(
        msg.get("from") or person.get("wa_id"), msg.get("from_user_id") or person.get("user_id")
    )
    profile = values.mapping(person.get("profile")) or {}
    extra: dict[str, Any] = {}
    for key, found in (
        ("username", values.text(profile, "username")),
        ("parent_bsuid", values.bsuid(person.get("parent_user_id"))),
    ):
        if found:
            extra[key] = found
    return results.inbound(
        tenant_id=tenant_id,
        who=who,
        message_id=values.message_id(msg.get("id")) or values.body_hash(raw, index),
        content=content.from_meta(msg),
        received_at=received_at,
        customer_name=values.text(profile, "name"),
        sent_at=values.timestamp(msg.get("timestamp")),
        extra=extra,
    )


def _report(status: Mapping[str, Any], tenant_id: str, received_at: float) -> DeliveryReport:
    state = results.state(values.lower(status, "status"))
    provider_id = values.message_id(status.get("id"))
    if provider_id is None:
        raise ParseError("missing_message_id", "a Meta status names no message id")
    customer = values.bsuid(status.get("recipient_user_id")) or values.phone_digits(
        status.get("recipient_id")
    )
    errors = list(_dicts(status.get("errors")))
    first = errors[0] if errors else {}
    details = values.mapping(first.get("error_data")) or {}
    extra: dict[str, Any] = {"provider": "meta", "status_word": values.text(status, "status")}
    for key in ("conversation", "pricing", "biz_opaque_callback_data"):
        if not values.is_missing(status.get(key)):
            extra[key] = status[key]
    if len(errors) > 1:
        extra["errors"] = errors
    return DeliveryReport(
        tenant_id=tenant_id,
        provider_message_id=provider_id,
        state=state,
        received_at=received_at,
        occurred_at=values.timestamp(status.get("timestamp")),
        customer_id=customer,
        error_code=values.text(first, "code") if first else None,
        error_reason=values.text(details, "details") or values.text(first, "message", "title"),
        extra=extra,
    )
