"""The chat as the phone shows it, computed from the MSG91 simulator's recordings (pure).

Sources (both from the simulator, one sequence-number space):

- send requests (``GET /_sim/messages``): what the bot sent, exact bodies -> the bot's bubbles
  (text, reply buttons, list, template with its media header, image/document/video/audio/
  sticker as ``media: {type, url, filename}`` with the caption as text);
- webhooks the simulator POSTed to the bot (``GET /_sim/webhooks``): customer messages -> the
  customer's bubbles (parsed with the bot's own webhook parser), delivery reports -> ticks.

The browser polls with a cursor ``(records seq, webhooks seq)``; `chat_update` returns the new
bubbles and ticks after it and the next cursor. A recording still in flight (a send not yet
decided, a webhook POST not yet answered) holds its stream's cursor just before it, so it is
returned again once settled; the browser merges bubbles by `key`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supportbot.messages import DeliveryReport, InboundMessage, MessageKind
from supportbot.webhook.parsing import ParseError, parse_payload

Item = dict[str, Any]
TICK_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
HANDOFF_RANK = {"human": 0, "pending": 1, "bot": 2}


@dataclass(frozen=True, slots=True)
class Cursor:
    records: int = 0
    webhooks: int = 0


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    items: list[Item]
    ticks: dict[str, str]
    """message id -> best delivery state seen (sent < delivered < read; failed wins)."""
    errors: dict[str, str]
    """message id -> failure reason (failed delivery reports)."""
    cursor: Cursor


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _interactive(obj: dict[str, Any]) -> Item:
    header = _dict(obj.get("header"))
    out: Item = {
        "text": _str(_dict(obj.get("body")).get("text")) or "",
        "header": _str(header.get("text")),
        "footer": _str(_dict(obj.get("footer")).get("text")),
    }
    action = _dict(obj.get("action"))
    if obj.get("type") == "button":
        replies = [_dict(_dict(b).get("reply")) for b in _list(action.get("buttons"))]
        out["kind"] = "buttons"
        out["buttons"] = [{"id": _str(r.get("id")), "title": _str(r.get("title"))} for r in replies]
    else:
        sections = []
        for section in map(_dict, _list(action.get("sections"))):
            rows = [
                {
                    "id": _str(r.get("id")),
                    "title": _str(r.get("title")),
                    "description": _str(r.get("description")),
                }
                for r in map(_dict, _list(section.get("rows")))
            ]
            sections.append({"title": _str(section.get("title")), "rows": rows})
        out["kind"] = "list"
        out["list"] = {"button": _str(action.get("button")) or "Choose", "sections": sections}
    return out


def _param_order(key: str) -> tuple[str, int]:
    part, _, index = key.rpartition("_")
    return part, int(index) if index.isdigit() else 0


def _template(payload: dict[str, Any], customer: str) -> Item:
    template = _dict(payload.get("template"))
    target: dict[str, Any] = {}
    for candidate in map(_dict, _list(template.get("to_and_components"))):
        if customer in _list(candidate.get("to")):
            target = candidate
            break
    components = _dict(target.get("components"))
    params = [
        str(_dict(components[k]).get("value", ""))
        for k in sorted(components, key=_param_order)
        if k.startswith("body_")
    ]
    name = _str(template.get("name")) or "?"
    language = _str(_dict(template.get("language")).get("code"))
    found: Item = {"name": name, "language": language, "params": params}
    header = _dict(components.get("header_1"))
    if header.get("type") in MEDIA_TYPES and _str(header.get("value")):
        found["header"] = {"type": header["type"], "url": header["value"]}
    return {"kind": "template", "template": found}


MEDIA_TYPES = ("image", "document", "video", "audio", "sticker")


def _media(content_type: str, obj: dict[str, Any]) -> Item:
    media = {
        "type": content_type,
        "url": _str(obj.get("link")),
        "filename": _str(obj.get("filename")),
    }
    return {"kind": content_type, "text": _str(obj.get("caption")) or "", "media": media}


def outbound_content(body: Any, customer: str) -> Item:
    """What a send-request body shows on the customer's phone (flat, wrapper or template)."""
    body = _dict(body)
    content_type = body.get("content_type")
    payload = _dict(body.get("payload"))
    if content_type == "template":
        return _template(payload, customer)
    source = payload or body
    if content_type == "text":
        text = _dict(payload.get("text")).get("body") if payload else body.get("text")
        return {"kind": "text", "text": _str(text) or ""}
    if content_type == "interactive":
        return _interactive(_dict(source.get("interactive")))
    if content_type in MEDIA_TYPES:
        return _media(str(content_type), _dict(source.get(str(content_type))))
    return {"kind": "unknown", "text": f"[{content_type} message]"}


def _message_id(record: dict[str, Any], customer: str) -> str | None:
    data = _dict(record.get("response")).get("data")
    for entry in map(_dict, _list(data)):
        if entry.get("to") == customer:
            return _str(entry.get("message_uuid"))
    ids = _list(record.get("message_ids"))
    return _str(ids[0]) if len(ids) == 1 else None


def bot_items(records: list[dict[str, Any]], number: str, customer: str) -> list[Item]:
    """The bot's bubbles: accepted send requests from `number` to `customer`."""
    items = []
    for record in records:
        if record.get("outcome") != "accepted" or record.get("integrated_number") != number:
            continue
        if customer not in _list(record.get("to")):
            continue
        message_id = _message_id(record, customer)
        if message_id is None:
            continue
        item: Item = {
            "key": f"out:{message_id}",
            "seq": record.get("seq", 0),
            "at": record.get("received_at"),
            "side": "bot",
            "message_id": message_id,
        }
        items.append(item | outbound_content(record.get("body"), customer))
    return items


def _parse(webhook: dict[str, Any], tenant: str) -> list[InboundMessage | DeliveryReport]:
    raw = json.dumps(webhook.get("payload"), ensure_ascii=False).encode()
    try:
        parsed = parse_payload(raw, tenant_id=tenant, received_at=float(webhook.get("at") or 0))
    except ParseError:
        return []
    return [item.value for item in parsed.items]


def _webhook_state(webhook: dict[str, Any]) -> tuple[str, str | None]:
    status = webhook.get("http_status")
    if isinstance(status, int) and status < 300:
        return "accepted", None
    if status is None and webhook.get("error") is None:
        return "pending", None
    return "failed", webhook.get("error") or f"the bot answered HTTP {status}"


def customer_item(webhook: dict[str, Any], message: InboundMessage) -> Item:
    delivery, error = _webhook_state(webhook)
    reply = message.kind in (MessageKind.INTERACTIVE, MessageKind.BUTTON)
    media: Item | None = None
    if message.kind is MessageKind.TEXT or reply:
        text = message.text or ""
    elif message.has_media:
        text = message.text or ""
        filename = message.extra.get("filename")
        media = {
            "type": message.kind.value,
            "url": message.media_url,
            "filename": filename if isinstance(filename, str) else None,
        }
    else:
        text = f"[{message.kind.value}]" + (f" {message.text}" if message.text else "")
    kind = "reply" if reply else message.kind.value if media else "text"
    return {
        "key": f"in:{message.message_id}",
        "seq": webhook.get("seq", 0),
        "at": webhook.get("at"),
        "side": "customer",
        "message_id": message.message_id,
        "kind": kind,
        "text": text,
        "media": media,
        "reply_id": message.reply_id,
        "name": message.customer_name,
        "delivery": delivery,
        "error": error,
    }


def _is_customer(value: InboundMessage | DeliveryReport, customer: str) -> bool:
    if isinstance(value, InboundMessage):
        return customer in (value.customer_id, value.phone)
    return value.customer_id in (customer, None)


def webhook_updates(
    webhooks: list[dict[str, Any]], tenant: str, number: str, customer: str
) -> tuple[list[Item], dict[str, str], dict[str, str]]:
    """(customer bubbles, ticks, failure reasons) from the webhooks sent to `tenant`'s bot."""
    items: list[Item] = []
    ticks: dict[str, str] = {}
    errors: dict[str, str] = {}
    for webhook in webhooks:
        if webhook.get("integrated_number") != number:
            continue
        for value in _parse(webhook, tenant):
            if not _is_customer(value, customer):
                continue
            if isinstance(value, InboundMessage):
                items.append(customer_item(webhook, value))
                continue
            message_id = _str(webhook.get("message_id")) or value.provider_message_id
            state = _str(webhook.get("status")) or value.state.value
            if TICK_RANK.get(state, 0) > TICK_RANK.get(ticks.get(message_id, ""), 0):
                ticks[message_id] = state
            if state == "failed":
                code = f" ({value.error_code})" if value.error_code else ""
                errors[message_id] = (value.error_reason or "failed") + code
    return items, ticks, errors


def _settled_record(record: dict[str, Any]) -> bool:
    return bool(record.get("outcome"))


def _settled_webhook(webhook: dict[str, Any]) -> bool:
    return webhook.get("http_status") is not None or webhook.get("error") is not None


def advance(old: int, entries: list[dict[str, Any]], settled: list[bool]) -> int:
    """The next cursor of one stream (entries in seq order): past every entry, but before the
    first unsettled one."""
    cursor = old
    for entry, done in zip(entries, settled, strict=True):
        if not done:
            break
        cursor = max(cursor, int(entry.get("seq", 0)))
    return cursor


def chat_update(
    records: list[dict[str, Any]],
    webhooks: list[dict[str, Any]],
    cursor: Cursor,
    *,
    tenant: str,
    number: str,
    customer: str,
) -> ChatUpdate:
    """New bubbles and ticks for one chat, from the recordings after `cursor` (seq order)."""
    records = sorted(records, key=lambda r: int(r.get("seq", 0)))
    webhooks = sorted(webhooks, key=lambda w: int(w.get("seq", 0)))
    customer_items, ticks, errors = webhook_updates(webhooks, tenant, number, customer)
    items = sorted(
        bot_items(records, number, customer) + customer_items, key=lambda i: int(i["seq"])
    )
    nxt = Cursor(
        advance(cursor.records, records, [_settled_record(r) for r in records]),
        advance(cursor.webhooks, webhooks, [_settled_webhook(w) for w in webhooks]),
    )
    return ChatUpdate(items, ticks, errors, nxt)


def _timestamp(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def conversation_order(conversations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Agent list order: handed to a human first, then waiting for one, then the bot's; newest
    activity first within each group."""
    return sorted(
        conversations,
        key=lambda c: (
            HANDOFF_RANK.get(str(c.get("handoff_state")), 3),
            -_timestamp(c.get("last_activity_at")),
        ),
    )


def authors(messages: list[dict[str, Any]]) -> dict[str, str]:
    """provider message id -> author for agent-written outbound messages (agent API history)."""
    found: dict[str, str] = {}
    for message in messages:
        author = _str(message.get("author")) or ""
        provider_id = _str(message.get("provider_message_id"))
        if provider_id and author.startswith("agent:"):
            found[provider_id] = author.removeprefix("agent:")
    return found
