"""Pure builders: `OutboundMessage` -> MSG91 send request (path + JSON body), and back.

Bodies follow shared/reference/msg91-whatsapp.md §1.5: session text and interactive messages use
the flat form on ``/whatsapp-outbound-message/``; templates use the ``/bulk/`` form with
positional ``body_<n>`` components (and a ``header_1`` media component for a media header).
Media (image/document/video/audio/sticker) use the wrapper form whose ``payload`` is Meta's
message object; which parts of that are confirmed for MSG91 is in ``msg91/MEDIA.md``. Limits
are enforced here, so an invalid message is rejected before any HTTP call
(`InvalidOutboundMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91 import limits
from supportbot.msg91.errors import InvalidOutboundMessage

API_PREFIX = "/api/v5/whatsapp"
SESSION_PATH = f"{API_PREFIX}/whatsapp-outbound-message/"
BULK_PATH = f"{API_PREFIX}/whatsapp-outbound-message/bulk/"
ACTIVATION_PATH = f"{API_PREFIX}/whatsapp-activation/"


@dataclass(frozen=True, slots=True)
class SendRequest:
    path: str
    body: dict[str, Any]


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidOutboundMessage(what)


def _bounded(value: str | None, limit: int, what: str, *, required: bool = True) -> None:
    _require(bool(value) or not required, f"{what} is empty")
    _require(len(value or "") <= limit, f"{what} is longer than {limit} characters")


def sanitize_param(value: str) -> str:
    """Template parameters may not hold newlines/tabs or be empty (§1.6): collapse whitespace."""
    return " ".join(value.split()) or "-"


def split_text(text: str, limit: int = limits.TEXT_MAX) -> list[str]:
    """Split a long text into parts of at most `limit` characters at paragraph/line/word breaks."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or window.rfind(" ")
        if cut <= limit // 4:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _interactive(message: OutboundMessage) -> dict[str, Any]:
    _bounded(message.text, limits.INTERACTIVE_BODY_MAX, "interactive body")
    obj: dict[str, Any] = {}
    if message.kind is OutboundKind.BUTTONS:
        obj["type"] = "button"
    else:
        obj["type"] = "list"
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


def check_media(
    kind: str,
    url: str | None,
    *,
    mime: str | None = None,
    size: int | None = None,
    caption: str | None = None,
    filename: str | None = None,
    animated: bool = False,
) -> None:
    """WhatsApp's media rules (§2.6), before any HTTP call: a http(s) link, an allowed MIME type
    (when declared), the size limit (when the size is declared), caption <= 1024 characters and
    only on image/video/document. Raises `InvalidOutboundMessage`."""
    _require(kind in limits.MEDIA_MAX_BYTES, f"unknown media type {kind!r}")
    parts = urlsplit(url or "")
    _require(
        parts.scheme in ("https", "http") and bool(parts.netloc), f"{kind} needs a http(s) link"
    )
    if mime is not None:
        allowed = limits.MEDIA_MIME_TYPES[kind]
        base = mime.split(";", 1)[0].strip().lower()
        _require(
            allowed is None or base in allowed,
            f"{kind} type {mime!r} is not allowed (WhatsApp accepts {sorted(allowed or ())})",
        )
    if size is not None:
        most = limits.MEDIA_MAX_BYTES[kind]
        if kind == "sticker" and animated:
            most = limits.STICKER_ANIMATED_MAX_BYTES
        _require(size >= 0, f"{kind} size is negative")
        _require(size <= most, f"{kind} is {size} bytes; WhatsApp allows at most {most} bytes")
    if caption:
        _require(kind in limits.CAPTIONED_MEDIA, f"a {kind} cannot carry a caption")
        _bounded(caption, limits.CAPTION_MAX, "caption")
    if filename is not None:
        _bounded(filename, limits.FILENAME_MAX, "file name")


def _media(recipient: str, message: OutboundMessage) -> dict[str, Any]:
    kind = message.kind.value
    check_media(
        kind,
        message.media_url,
        mime=message.media_mime,
        size=message.media_size,
        caption=message.text or None,
        filename=message.media_filename,
    )
    obj: dict[str, Any] = {"link": message.media_url}
    if message.text:
        obj["caption"] = message.text
    if message.media_filename and message.kind is OutboundKind.DOCUMENT:
        obj["filename"] = message.media_filename
    return {
        "content_type": kind,
        "payload": {"messaging_product": "whatsapp", "to": recipient, "type": kind, kind: obj},
    }


HEADER_MEDIA_TYPES = ("image", "document", "video")


def _template(integrated_number: str, recipient: str, message: OutboundMessage) -> dict[str, Any]:
    _bounded(message.template_name, limits.TEMPLATE_NAME_MAX, "template name")
    components: dict[str, Any] = {}
    if message.template_header_type is not None or message.template_header_url is not None:
        kind = message.template_header_type or ""
        _require(kind in HEADER_MEDIA_TYPES, f"template header type {kind!r} is not a media type")
        check_media(kind, message.template_header_url)
        components["header_1"] = {"type": kind, "value": message.template_header_url}
    components.update(
        {
            f"body_{i}": {"type": "text", "value": sanitize_param(p)}
            for i, p in enumerate(message.template_params, start=1)
        }
    )
    return {
        "integrated_number": integrated_number,
        "content_type": "template",
        "payload": {
            "messaging_product": "whatsapp",
            "type": "template",
            "template": {
                "name": message.template_name,
                "language": {"code": message.template_language or "en", "policy": "deterministic"},
                "to_and_components": [{"to": [recipient], "components": components}],
            },
        },
    }


def build_request(integrated_number: str, recipient: str, message: OutboundMessage) -> SendRequest:
    """The MSG91 request for one message to one recipient (phone digits, or a BSUID)."""
    _require(bool(recipient), "no recipient (neither phone nor BSUID)")
    if message.kind is OutboundKind.TEMPLATE:
        return SendRequest(BULK_PATH, _template(integrated_number, recipient, message))
    if message.is_media:
        return SendRequest(
            SESSION_PATH, {"integrated_number": integrated_number, **_media(recipient, message)}
        )
    base = {"integrated_number": integrated_number, "recipient_number": recipient}
    if message.kind is OutboundKind.TEXT:
        _bounded(message.text, limits.TEXT_MAX, "text")
        return SendRequest(SESSION_PATH, {**base, "content_type": "text", "text": message.text})
    interactive = _interactive(message)
    return SendRequest(
        SESSION_PATH, {**base, "content_type": "interactive", "interactive": interactive}
    )


def _first(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str | int) and str(v):
            return str(v)
    return None


def accepted_ids(body: Any) -> tuple[str | None, str | None]:
    """(message uuid/wamid, request id) from a success body; either may be missing (§1.5)."""
    if not isinstance(body, dict):
        return None, None
    data = body.get("data")
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    data = data if isinstance(data, dict) else {}
    uuid = _first(
        data.get("message_uuid"),
        data.get("uuid"),
        data.get("id"),
        first.get("message_uuid"),
        first.get("id"),
    )
    request_id = _first(body.get("request_id"), body.get("requestId"), data.get("request_id"))
    return uuid, request_id
