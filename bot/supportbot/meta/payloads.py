"""Pure builders: outbound values -> Graph API request (path + JSON body), and the answer's ids.

Every send is ``POST /{version}/{phone_number_id}/messages`` with a Bearer token
(shared/reference/msg91-whatsapp.md §2.4). Bodies:

- text: ``{"messaging_product":"whatsapp","to":…,"type":"text","text":{"preview_url":false,
  "body":…}}`` (§2.4, verbatim);
- reply buttons / list: ``"type":"interactive"`` with ``interactive.type`` ``button`` / ``list``
  (the same object MSG91 relays, §1.5; limits §2.4);
- media: ``"type":<image|document|video|audio|sticker>`` with ``{"link"|"id", "caption",
  "filename"}`` (§2.6 gives ids and sizes; the body shape is Meta's media doc, unconfirmed here);
- template: ``"type":"template"`` with ``name``, ``language.code`` and ``components`` (a
  ``header`` with one media/text parameter, a ``body`` with text parameters; Meta's template
  doc, unconfirmed here);
- read receipt + typing indicator: ``{"messaging_product":"whatsapp","status":"read",
  "message_id":…,"typing_indicator":{"type":"text"}}`` (§2.5, verbatim).

``context.message_id`` quotes an earlier message (§2.4). Limits are checked here, so an invalid
message never reaches HTTP (`InvalidOutboundMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.meta import limits
from supportbot.meta.errors import InvalidOutboundMessage

MediaKind = Literal["image", "document", "video", "audio", "sticker"]
PRODUCT = {"messaging_product": "whatsapp"}


def messages_path(api_version: str, phone_number_id: str) -> str:
    return f"/{api_version}/{phone_number_id}/messages"


@dataclass(frozen=True, slots=True)
class GraphRequest:
    path: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MediaMessage:
    """A media message: exactly one of `link` (https URL) or `media_id` (an uploaded media's id)."""

    kind: MediaKind
    link: str | None = None
    media_id: str | None = None
    caption: str | None = None
    filename: str | None = None
    """Documents only: the file name the customer sees."""


@dataclass(frozen=True, slots=True)
class TemplateHeader:
    """One header parameter of a template: media (by link or id) or text."""

    kind: Literal["image", "document", "video", "text"]
    link: str | None = None
    media_id: str | None = None
    text: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    name: str
    language: str = "en"
    body_params: tuple[str, ...] = ()
    header: TemplateHeader | None = None


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidOutboundMessage(what)


def _bounded(value: str | None, limit: int, what: str, *, required: bool = True) -> None:
    _require(bool(value) or not required, f"{what} is empty")
    _require(len(value or "") <= limit, f"{what} is longer than {limit} characters")


def sanitize_param(value: str) -> str:
    """Template parameters may not hold newlines/tabs or be empty (§1.6): collapse whitespace."""
    return " ".join(value.split()) or "-"


def _base(recipient: str, kind: str, context_id: str | None) -> dict[str, Any]:
    _require(bool(recipient), "no recipient (neither phone nor BSUID)")
    body: dict[str, Any] = {**PRODUCT, "to": recipient}
    if context_id:
        body["context"] = {"message_id": context_id}
    body["type"] = kind
    return body


def _buttons(message: OutboundMessage) -> list[dict[str, Any]]:
    buttons = message.buttons
    _require(1 <= len(buttons) <= limits.BUTTONS_MAX, f"1-{limits.BUTTONS_MAX} buttons needed")
    _require(len({b.id for b in buttons}) == len(buttons), "button ids are not unique")
    _require(len({b.title for b in buttons}) == len(buttons), "button titles are not unique")
    for b in buttons:
        _bounded(b.id, limits.BUTTON_ID_MAX, "button id")
        _bounded(b.title, limits.BUTTON_TITLE_MAX, f"button title {b.title!r}")
    return [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]


def _list_action(message: OutboundMessage) -> dict[str, Any]:
    _bounded(message.list_button, limits.LIST_BUTTON_MAX, "list button")
    sections = message.sections
    _require(1 <= len(sections) <= limits.LIST_SECTIONS_MAX, "1-10 list sections needed")
    rows = [row for s in sections for row in s.rows]
    _require(1 <= len(rows) <= limits.LIST_ROWS_MAX, f"1-{limits.LIST_ROWS_MAX} list rows needed")
    _require(len({r.id for r in rows}) == len(rows), "list row ids are not unique")
    out: list[dict[str, Any]] = []
    for section in sections:
        _require(bool(section.rows), f"list section {section.title!r} has no rows")
        _bounded(
            section.title,
            limits.LIST_SECTION_TITLE_MAX,
            "list section title",
            required=len(sections) > 1,
        )
        rendered: list[dict[str, Any]] = []
        for row in section.rows:
            _bounded(row.id, limits.LIST_ROW_ID_MAX, "list row id")
            _bounded(row.title, limits.LIST_ROW_TITLE_MAX, f"list row title {row.title!r}")
            item: dict[str, Any] = {"id": row.id, "title": row.title}
            if row.description:
                _bounded(row.description, limits.LIST_ROW_DESCRIPTION_MAX, "row description")
                item["description"] = row.description
            rendered.append(item)
        entry: dict[str, Any] = {"title": section.title} if section.title else {}
        entry["rows"] = rendered
        out.append(entry)
    return {"button": message.list_button, "sections": out}


def _interactive(message: OutboundMessage) -> dict[str, Any]:
    _bounded(message.text, limits.INTERACTIVE_BODY_MAX, "interactive body")
    obj: dict[str, Any] = {"type": "button" if message.kind is OutboundKind.BUTTONS else "list"}
    if message.header:
        _bounded(message.header, limits.HEADER_TEXT_MAX, "header")
        obj["header"] = {"type": "text", "text": message.header}
    obj["body"] = {"text": message.text}
    if message.footer:
        _bounded(message.footer, limits.FOOTER_TEXT_MAX, "footer")
        obj["footer"] = {"text": message.footer}
    if message.kind is OutboundKind.BUTTONS:
        obj["action"] = {"buttons": _buttons(message)}
    else:
        obj["action"] = _list_action(message)
    return obj


def _media_object(
    kind: str, link: str | None, media_id: str | None, filename: str | None
) -> dict[str, Any]:
    _require((link is None) != (media_id is None), f"{kind}: exactly one of link or id needed")
    obj: dict[str, Any] = {"link": link} if link is not None else {"id": media_id}
    _require(bool(link or media_id), f"{kind}: empty link or id")
    if filename:
        _require(kind == "document", "only documents take a filename")
        obj["filename"] = filename
    return obj


def media_body(
    recipient: str, media: MediaMessage, *, context_id: str | None = None
) -> dict[str, Any]:
    _require(media.kind in limits.MEDIA_KINDS, f"unknown media kind {media.kind!r}")
    obj = _media_object(media.kind, media.link, media.media_id, media.filename)
    if media.caption:
        _require(media.kind in limits.CAPTIONED_MEDIA, f"{media.kind} takes no caption")
        _bounded(media.caption, limits.CAPTION_MAX, "caption")
        obj["caption"] = media.caption
    body = _base(recipient, media.kind, context_id)
    body[media.kind] = obj
    return body


def template_body(recipient: str, template: TemplateMessage) -> dict[str, Any]:
    _bounded(template.name, limits.TEMPLATE_NAME_MAX, "template name")
    _require(bool(template.language), "template language is empty")
    components: list[dict[str, Any]] = []
    header = template.header
    if header is not None:
        if header.kind == "text":
            _require(bool(header.text), "text header parameter is empty")
            param: dict[str, Any] = {"type": "text", "text": sanitize_param(header.text or "")}
        else:
            param = {
                "type": header.kind,
                header.kind: _media_object(
                    header.kind, header.link, header.media_id, header.filename
                ),
            }
        components.append({"type": "header", "parameters": [param]})
    if template.body_params:
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": sanitize_param(p)} for p in template.body_params
                ],
            }
        )
    obj: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        obj["components"] = components
    body = _base(recipient, "template", None)
    body["template"] = obj
    return body


def message_body(
    recipient: str, message: OutboundMessage, *, context_id: str | None = None
) -> dict[str, Any]:
    """The Graph body for one provider-neutral `OutboundMessage` to one recipient."""
    if message.kind is OutboundKind.TEMPLATE:
        _require(bool(message.template_name), "template name is empty")
        header = None
        if message.template_header_type is not None:
            kind = message.template_header_type
            _require(kind in ("image", "document", "video"), f"header type {kind!r}")
            header = TemplateHeader(
                kind=cast(Literal["image", "document", "video"], kind),
                link=message.template_header_url,
            )
        return template_body(
            recipient,
            TemplateMessage(
                name=message.template_name or "",
                language=message.template_language or "en",
                body_params=message.template_params,
                header=header,
            ),
        )
    if message.is_media:
        media = MediaMessage(
            kind=cast(MediaKind, message.kind.value),
            link=message.media_url,
            caption=message.text or None,
            filename=message.media_filename,
        )
        return media_body(recipient, media, context_id=context_id)
    if message.kind is OutboundKind.TEXT:
        _bounded(message.text, limits.TEXT_MAX, "text")
        body = _base(recipient, "text", context_id)
        body["text"] = {"preview_url": False, "body": message.text}
        return body
    body = _base(recipient, "interactive", context_id)
    body["interactive"] = _interactive(message)
    return body


def read_receipt_body(message_id: str, *, typing: bool = True) -> dict[str, Any]:
    """Mark `message_id` (and earlier ones) read; with `typing`, show the typing indicator until
    the reply or 25 s (§2.5). Only when a reply will follow."""
    _require(bool(message_id), "no message id to mark as read")
    body: dict[str, Any] = {**PRODUCT, "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


def accepted_ids(body: Any) -> tuple[str | None, str | None]:
    """(wamid, wa_id) from ``{"messaging_product","contacts":[{"input","wa_id"}],
    "messages":[{"id"}]}`` (§2.4); either may be missing."""
    if not isinstance(body, dict):
        return None, None
    wamid = wa_id = None
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        value = messages[0].get("id")
        wamid = value if isinstance(value, str) and value else None
    contacts = body.get("contacts")
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        value = contacts[0].get("wa_id")
        wa_id = value if isinstance(value, str) and value else None
    return wamid, wa_id
