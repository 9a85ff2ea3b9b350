"""What the simulated messages endpoint accepts (pure), and the Graph error for what it refuses.

A refusal is `Rejection` -> HTTP 400 ``{"error":{"message","type","code","error_subcode",
"error_data":{"details"},"fbtrace_id"}}`` (reference §2.4). Codes: 100 "Invalid parameter" for
a missing or invalid field (details name it), 131051 "Unsupported message type" for an unknown
``type`` (§2.8). Meta's own finer codes for these cases (e.g. 131008 / 131009) are not in the
reference and are not simulated. Limits come from `supportbot.meta.limits` (§2.4).

Checks per type: text (body 1-4096); interactive button (1-3 reply buttons, ids and titles
unique, title ≤ 20, body ≤ 1024, header/footer ≤ 60, header media by link only) and list
(button ≤ 20, 1-10 sections, 1-10 rows in all, row title ≤ 24, description ≤ 72, unique row
ids); media (exactly one of ``link``/``id``, caption only on image/document/video, filename
only on documents); template (``name``, ``language.code``, components with ``type`` and
``parameters``); read receipt (``status: read``, ``message_id``, optional
``typing_indicator.type == "text"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from supportbot.meta import limits

INVALID_PARAMETER = 100
UNSUPPORTED_TYPE = 131051
TYPES = ("text", "interactive", "template", *limits.MEDIA_KINDS)
_PHONE = re.compile(r"^\+?\d{6,15}$")
_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")


class Rejection(Exception):
    def __init__(
        self,
        details: str,
        *,
        code: int = INVALID_PARAMETER,
        message: str = "(#100) Invalid parameter",
        status: int = 400,
        subcode: int | None = None,
    ) -> None:
        super().__init__(details)
        self.details = details
        self.code = code
        self.message = message
        self.status = status
        self.subcode = subcode


@dataclass(frozen=True, slots=True)
class Outgoing:
    to: str
    kind: str
    """text | interactive | template | image | document | video | audio | sticker"""
    template_name: str | None = None

    @property
    def free_form(self) -> bool:
        """Everything but templates needs an open 24 h window (§2.7)."""
        return self.kind != "template"


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    message_id: str
    typing: bool


def _need(ok: bool, details: str) -> None:
    if not ok:
        raise Rejection(details)


def _obj(value: Any, what: str) -> dict[str, Any]:
    _need(isinstance(value, dict), f"{what} must be an object")
    result: dict[str, Any] = value
    return result


def _text(value: Any, limit: int, what: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    _need(isinstance(value, str) and value != "", f"{what} is required")
    assert isinstance(value, str)
    _need(len(value) <= limit, f"{what} is longer than {limit} characters")
    return value


def is_read_receipt(body: dict[str, Any]) -> bool:
    return "status" in body and "type" not in body


def read_receipt(body: dict[str, Any]) -> ReadReceipt:
    _need(body.get("messaging_product") == "whatsapp", "messaging_product must be 'whatsapp'")
    _need(body.get("status") == "read", "status must be 'read'")
    message_id = _text(body.get("message_id"), 1000, "message_id")
    typing = body.get("typing_indicator")
    if typing is not None:
        _need(_obj(typing, "typing_indicator").get("type") == "text", "typing_indicator.type")
    return ReadReceipt(message_id or "", typing is not None)


def _recipient(value: Any) -> str:
    _need(isinstance(value, str) and value != "", "to is required")
    assert isinstance(value, str)
    _need(bool(_PHONE.match(value) or _BSUID.match(value)), f"to {value!r} is not a valid id")
    return value.removeprefix("+")


def _buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    _need(isinstance(buttons, list) and len(buttons) >= 1, "action.buttons is required")
    assert isinstance(buttons, list)
    _need(len(buttons) <= limits.BUTTONS_MAX, f"at most {limits.BUTTONS_MAX} buttons")
    ids, titles = set(), set()
    for b in buttons:
        b = _obj(b, "button")
        _need(b.get("type") == "reply", "button type must be 'reply'")
        reply = _obj(b.get("reply"), "button reply")
        ids.add(_text(reply.get("id"), limits.BUTTON_ID_MAX, "button id"))
        titles.add(_text(reply.get("title"), limits.BUTTON_TITLE_MAX, "button title"))
    _need(len(ids) == len(buttons), "button ids must be unique")
    _need(len(titles) == len(buttons), "button titles must be unique")


def _list(action: dict[str, Any]) -> None:
    _text(action.get("button"), limits.LIST_BUTTON_MAX, "action.button")
    sections = action.get("sections")
    _need(isinstance(sections, list) and len(sections) >= 1, "action.sections is required")
    assert isinstance(sections, list)
    _need(len(sections) <= limits.LIST_SECTIONS_MAX, f"at most {limits.LIST_SECTIONS_MAX} sections")
    ids: list[str | None] = []
    for s in sections:
        s = _obj(s, "section")
        _text(
            s.get("title"),
            limits.LIST_SECTION_TITLE_MAX,
            "section title",
            required=len(sections) > 1,
        )
        rows = s.get("rows")
        _need(isinstance(rows, list) and len(rows) >= 1, "section rows are required")
        assert isinstance(rows, list)
        for r in rows:
            r = _obj(r, "row")
            ids.append(_text(r.get("id"), limits.LIST_ROW_ID_MAX, "row id"))
            _text(r.get("title"), limits.LIST_ROW_TITLE_MAX, "row title")
            _text(
                r.get("description"),
                limits.LIST_ROW_DESCRIPTION_MAX,
                "row description",
                required=False,
            )
    _need(len(ids) <= limits.LIST_ROWS_MAX, f"at most {limits.LIST_ROWS_MAX} rows")
    _need(len(set(ids)) == len(ids), "row ids must be unique")


def _interactive(obj: dict[str, Any]) -> None:
    kind = obj.get("type")
    _need(kind in ("button", "list"), "interactive.type must be 'button' or 'list'")
    body = _obj(obj.get("body"), "interactive.body")
    _text(body.get("text"), limits.INTERACTIVE_BODY_MAX, "interactive.body.text")
    header = obj.get("header")
    if header is not None:
        header = _obj(header, "interactive.header")
        htype = header.get("type")
        if htype == "text":
            _text(header.get("text"), limits.HEADER_TEXT_MAX, "header text")
        else:
            _need(isinstance(htype, str) and htype in ("image", "document", "video"), "header type")
            media = _obj(header.get(str(htype)), "header media")
            _need("id" not in media, "interactive header media must be a link, not an id")
            _text(media.get("link"), 2000, "header media link")
    footer = obj.get("footer")
    if footer is not None:
        _text(_obj(footer, "footer").get("text"), limits.FOOTER_TEXT_MAX, "footer text")
    action = _obj(obj.get("action"), "interactive.action")
    if kind == "button":
        _buttons(action)
    else:
        _list(action)


def _media(kind: str, obj: dict[str, Any]) -> None:
    has_link, has_id = "link" in obj, "id" in obj
    _need(has_link != has_id, f"{kind}: exactly one of link or id is required")
    _text(obj.get("link" if has_link else "id"), 2000, f"{kind} link or id")
    if "caption" in obj:
        _need(kind in limits.CAPTIONED_MEDIA, f"{kind} takes no caption")
        _text(obj.get("caption"), limits.CAPTION_MAX, "caption")
    if "filename" in obj:
        _need(kind == "document", "only documents take a filename")


def _template(obj: dict[str, Any]) -> str:
    name = _text(obj.get("name"), limits.TEMPLATE_NAME_MAX, "template.name")
    language = _obj(obj.get("language"), "template.language")
    _text(language.get("code"), 20, "template.language.code")
    components = obj.get("components", [])
    _need(isinstance(components, list), "template.components must be a list")
    for c in components:
        c = _obj(c, "component")
        _need(c.get("type") in ("header", "body", "button"), "component type")
        params = c.get("parameters", [])
        _need(isinstance(params, list), "component parameters must be a list")
        for p in params:
            p = _obj(p, "parameter")
            ptype = p.get("type")
            if ptype == "text":
                _text(p.get("text"), 1024, "text parameter")
            elif ptype in ("image", "document", "video"):
                _media(ptype, _obj(p.get(ptype), f"{ptype} parameter"))
            else:
                _need(ptype in ("payload", "currency", "date_time"), "parameter type")
    return name or ""


def message(body: dict[str, Any]) -> Outgoing:
    """Validate a message send; raises `Rejection`."""
    _need(body.get("messaging_product") == "whatsapp", "messaging_product must be 'whatsapp'")
    to = _recipient(body.get("to"))
    kind = body.get("type", "text")
    if kind not in TYPES:
        raise Rejection(
            f"message type {kind!r} is not supported",
            code=UNSUPPORTED_TYPE,
            message="(#131051) Unsupported message type",
        )
    context = body.get("context")
    if context is not None:
        _text(_obj(context, "context").get("message_id"), 1000, "context.message_id")
    detail = _obj(body.get(kind), kind)
    template_name = None
    if kind == "text":
        _text(detail.get("body"), limits.TEXT_MAX, "text.body")
    elif kind == "interactive":
        _interactive(detail)
    elif kind == "template":
        template_name = _template(detail)
    else:
        _media(kind, detail)
    return Outgoing(to, kind, template_name)
