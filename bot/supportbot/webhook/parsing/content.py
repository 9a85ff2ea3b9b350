"""What a customer sent, from one Meta-shaped message object (``messages[]`` item).

Both payload families end here: the Meta envelope carries these objects directly, and the MSG91
parser rebuilds one from its flat fields (plus the raw Meta object MSG91 may relay in
``messages``). Unknown types, and known types with unusable details, still produce a
:class:`Content` (kind UNKNOWN with the payload kept in `extra`): a customer message is never
dropped because of an odd detail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supportbot.messages import MessageKind
from supportbot.webhook.parsing import values

KIND_BY_TYPE: dict[str, MessageKind] = {
    "text": MessageKind.TEXT,
    "interactive": MessageKind.INTERACTIVE,
    "button": MessageKind.BUTTON,
    "image": MessageKind.IMAGE,
    "document": MessageKind.DOCUMENT,
    "audio": MessageKind.AUDIO,
    "voice": MessageKind.AUDIO,
    "video": MessageKind.VIDEO,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
    "contacts": MessageKind.CONTACTS,
    "contact": MessageKind.CONTACTS,
    "reaction": MessageKind.REACTION,
}
MEDIA_KINDS = frozenset(
    {MessageKind.IMAGE, MessageKind.DOCUMENT, MessageKind.AUDIO, MessageKind.VIDEO,
     MessageKind.STICKER}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Content:
    kind: MessageKind
    text: str | None = None
    reply_id: str | None = None
    media_url: str | None = None
    media_mime: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def kind_of(type_name: str | None) -> MessageKind:
    return KIND_BY_TYPE.get(type_name or "", MessageKind.UNKNOWN)


def from_meta(msg: Mapping[str, Any]) -> Content:
    """Content of a Meta message object; the kind comes from its ``type``."""
    type_name = values.lower(msg, "type")
    kind = kind_of(type_name)
    base = _common_extra(msg)
    detail = values.field(msg, type_name) if type_name else None
    if kind is MessageKind.TEXT:
        body = values.mapping(detail)
        content = Content(kind, text=values.text(body, "body") if body else None)
    elif kind is MessageKind.INTERACTIVE:
        content = interactive(values.mapping(detail))
    elif kind is MessageKind.BUTTON:
        content = button(detail)
    elif kind in MEDIA_KINDS:
        content = media(kind, values.mapping(detail))
    elif kind is MessageKind.LOCATION:
        content = location(values.mapping(detail))
    elif kind is MessageKind.CONTACTS:
        content = contacts(values.listing(detail))
    elif kind is MessageKind.REACTION:
        content = reaction(detail)
    else:
        content = unknown(type_name, dict(msg))
    if content.kind is MessageKind.UNKNOWN and kind is not MessageKind.UNKNOWN:
        content = unknown(type_name, dict(msg))  # a known type whose details are unusable
    if not base:
        return content
    return dataclasses.replace(content, extra={**base, **content.extra})


def _common_extra(msg: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    context = values.mapping(values.field(msg, "context"))
    if context:
        reply_to = values.message_id(context.get("id"))
        if reply_to:
            extra["reply_to"] = reply_to
        if context.get("forwarded") is True or context.get("frequently_forwarded") is True:
            extra["forwarded"] = True
    referral = values.mapping(values.field(msg, "referral"))
    if referral:
        extra["referral"] = referral
    group = values.text(msg, "group_id")
    if group:
        extra["group_id"] = group
    return extra


def unknown(type_name: str | None, payload: dict[str, Any]) -> Content:
    return Content(MessageKind.UNKNOWN, extra={"type": type_name or "", "payload": payload})


def interactive(obj: Mapping[str, Any] | None) -> Content:
    """button_reply / list_reply -> title + id; nfm_reply (flows) -> body + response."""
    if not obj:
        return Content(MessageKind.UNKNOWN)
    sub_type = values.lower(obj, "type") or ""
    reply = values.mapping(values.field(obj, sub_type)) if sub_type else None
    if reply is None:
        for candidate in ("button_reply", "list_reply", "nfm_reply"):
            reply = values.mapping(values.field(obj, candidate))
            if reply is not None:
                sub_type = candidate
                break
    if reply is None:
        return Content(MessageKind.INTERACTIVE, extra={"interactive": dict(obj)})
    extra: dict[str, Any] = {"interactive_type": sub_type}
    if sub_type == "nfm_reply":
        extra["response"] = values.maybe_json(values.field(reply, "response_json"))
        extra["name"] = values.text(reply, "name")
        return Content(MessageKind.INTERACTIVE, text=values.text(reply, "body"), extra=extra)
    description = values.text(reply, "description")
    if description:
        extra["description"] = description
    return Content(
        MessageKind.INTERACTIVE,
        text=values.text(reply, "title"),
        reply_id=values.text(reply, "id"),
        extra=extra,
    )


def button(detail: Any) -> Content:
    """Template quick-reply: ``{"text": title, "payload": id}`` or just the title string."""
    obj = values.mapping(detail)
    if obj is not None:
        return Content(
            MessageKind.BUTTON,
            text=values.text(obj, "text", "title"),
            reply_id=values.text(obj, "payload", "id"),
        )
    if isinstance(detail, str) and not values.is_missing(detail):
        return Content(MessageKind.BUTTON, text=detail)
    return Content(MessageKind.UNKNOWN)


def media(kind: MessageKind, obj: Mapping[str, Any] | None) -> Content:
    """URL (MSG91 `url` / Meta `link`), caption and mime type; Meta media id kept in extra."""
    if not obj:
        return Content(MessageKind.UNKNOWN)
    extra: dict[str, Any] = {}
    for key, name in (("id", "media_id"), ("filename", "filename"), ("sha256", "sha256")):
        value = values.text(obj, key)
        if value:
            extra[name] = value
    size = values.number(obj.get("file_size"), low=0.0, high=float(2**53))
    if size is not None:
        extra["size"] = int(size)
    for flag in ("voice", "animated"):
        if obj.get(flag) is True:
            extra[flag] = True
    url = values.text(obj, "link", "url")
    if not url and "media_id" not in extra:
        return Content(MessageKind.UNKNOWN)
    return Content(
        kind,
        text=values.text(obj, "caption"),
        media_url=url,
        media_mime=values.text(obj, "mime_type", "mimeType", "mime"),
        extra=extra,
    )


def location(obj: Mapping[str, Any] | None) -> Content:
    if not obj:
        return Content(MessageKind.UNKNOWN)
    lat = values.number(obj.get("latitude"), low=-90.0, high=90.0)
    lng = values.number(obj.get("longitude"), low=-180.0, high=180.0)
    if lat is None or lng is None:
        return Content(MessageKind.UNKNOWN)
    extra: dict[str, Any] = {"latitude": lat, "longitude": lng}
    for key in ("name", "address", "url"):
        value = values.text(obj, key)
        if value:
            extra[key] = value
    label = ", ".join(p for p in (extra.get("name"), extra.get("address")) if p) or None
    return Content(MessageKind.LOCATION, text=label, extra=extra)


def contacts(items: list[Any] | None) -> Content:
    cards = [c for c in items or [] if isinstance(c, dict)]
    if not cards:
        return Content(MessageKind.UNKNOWN)
    names = [values.mapping(c.get("name")) for c in cards]
    first = next((values.text(n, "formatted_name") for n in names if n), None)
    return Content(MessageKind.CONTACTS, text=first, extra={"contacts": cards})


def reaction(detail: Any) -> Content:
    """``{"message_id", "emoji"}`` or a bare emoji; an empty emoji means "reaction removed"."""
    obj = values.mapping(detail)
    if obj is None:
        if isinstance(detail, str) and not values.is_missing(detail):
            return Content(MessageKind.REACTION, text=detail, extra={"emoji": detail})
        return Content(MessageKind.UNKNOWN)
    emoji = obj.get("emoji") if isinstance(obj.get("emoji"), str) else ""
    extra: dict[str, Any] = {"emoji": emoji}
    target = values.message_id(obj.get("message_id"))
    if target:
        extra["message_id"] = target
    return Content(MessageKind.REACTION, text=emoji or None, extra=extra)
