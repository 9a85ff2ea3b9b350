"""What the simulated send API accepts (pure): the bodies of shared/reference/msg91-whatsapp.md
§1.5 and the WhatsApp limits of §2.4. Anything else raises `Rejection` (HTTP 400 by default).

Accepted session forms: flat (``recipient_number`` + ``text`` / ``interactive``) and wrapper
(``payload`` with ``messaging_product``, ``to``, ``type``). Templates only on ``/bulk/`` with
``to_and_components`` (a ``header_<n>`` media component must be a http(s) link). Media sends
(image/document/video/audio/sticker) only in the wrapper form, ``payload.<type>`` being Meta's
media object with a ``link`` (msg91/MEDIA.md: the shape this simulator stands in for), checked
against WhatsApp's type/size/caption rules when a MIME type or size is declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from supportbot.msg91 import limits

_NUMBER = re.compile(r"^[1-9][0-9]{7,14}$")
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]{1,140}$")
_COMPONENT = re.compile(r"^(header|body|button)_[A-Za-z0-9_]+$")


class Rejection(Exception):
    def __init__(self, message: str, code: str = "INVALID_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One accepted message to one recipient."""

    to: str
    kind: str
    """text | interactive | template"""
    template_name: str | None = None
    template_language: str | None = None
    body_params: int = 0

    @property
    def free_form(self) -> bool:
        return self.kind != "template"


def _check(ok: bool, message: str, code: str = "INVALID_REQUEST") -> None:
    if not ok:
        raise Rejection(message, code)


def _text(value: Any, limit: int, what: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    _check(isinstance(value, str), f"{what} must be a string")
    _check(bool(value.strip()) or not required, f"{what} is required")
    _check(len(value) <= limit, f"{what} exceeds {limit} characters")


def _dict(value: Any, what: str) -> dict[str, Any]:
    _check(isinstance(value, dict), f"{what} must be an object")
    result: dict[str, Any] = value
    return result


def _items(value: Any, what: str) -> list[Any]:
    _check(isinstance(value, list) and bool(value), f"{what} must be a non-empty list")
    result: list[Any] = value
    return result


def _recipient(value: Any) -> str:
    _check(isinstance(value, str), "recipient number must be a string", "INVALID_RECIPIENT")
    ok = bool(_NUMBER.match(value) or _BSUID.match(value))
    _check(ok, f"invalid recipient number {value!r}", "INVALID_RECIPIENT")
    result: str = value
    return result


def integrated_number(body: dict[str, Any], numbers: list[str]) -> str:
    number = body.get("integrated_number")
    _check(isinstance(number, str) and bool(number), "integrated_number is required")
    assert isinstance(number, str)
    _check(bool(_NUMBER.match(number)), "invalid integrated_number", "INVALID_INTEGRATED_NUMBER")
    if numbers and number not in numbers:
        raise Rejection(
            "integrated_number is not registered with this account", "INVALID_INTEGRATED_NUMBER"
        )
    return number


def _buttons(action: dict[str, Any]) -> None:
    buttons = _items(action.get("buttons"), "action.buttons")
    _check(len(buttons) <= limits.BUTTONS_MAX, f"at most {limits.BUTTONS_MAX} buttons allowed")
    ids, titles = set(), set()
    for b in buttons:
        b = _dict(b, "button")
        _check(b.get("type") == "reply", "button type must be 'reply'")
        reply = _dict(b.get("reply"), "button reply")
        _text(reply.get("id"), limits.BUTTON_ID_MAX, "button id")
        _text(reply.get("title"), limits.BUTTON_TITLE_MAX, "button title")
        ids.add(reply["id"])
        titles.add(reply["title"])
    _check(len(ids) == len(buttons), "button ids must be unique")
    _check(len(titles) == len(buttons), "button titles must be unique")


def _list(action: dict[str, Any]) -> None:
    _text(action.get("button"), limits.LIST_BUTTON_MAX, "action.button")
    sections = _items(action.get("sections"), "action.sections")
    _check(len(sections) <= limits.LIST_SECTIONS_MAX, "too many sections")
    ids: set[str] = set()
    count = 0
    for s in sections:
        s = _dict(s, "section")
        _text(s.get("title"), limits.LIST_SECTION_TITLE_MAX, "section title", required=False)
        _check(len(sections) == 1 or bool(s.get("title")), "section title required (>1 section)")
        for r in _items(s.get("rows"), "section rows"):
            r = _dict(r, "row")
            _text(r.get("id"), limits.LIST_ROW_ID_MAX, "row id")
            _text(r.get("title"), limits.LIST_ROW_TITLE_MAX, "row title")
            _text(
                r.get("description"),
                limits.LIST_ROW_DESCRIPTION_MAX,
                "row description",
                required=False,
            )
            ids.add(r["id"])
            count += 1
    _check(count <= limits.LIST_ROWS_MAX, f"at most {limits.LIST_ROWS_MAX} rows allowed")
    _check(len(ids) == count, "row ids must be unique")


def interactive(obj: Any) -> None:
    obj = _dict(obj, "interactive")
    kind = obj.get("type")
    _check(kind in ("button", "list"), "interactive.type must be 'button' or 'list'")
    if "header" in obj:
        header = _dict(obj["header"], "header")
        if header.get("type") == "text":
            _text(header.get("text"), limits.HEADER_TEXT_MAX, "header text")
        else:
            _check(kind == "button", "a list header must be text")
            media = _dict(header.get(str(header.get("type"))), "header media")
            _check(isinstance(media.get("link"), str), "header media must be a link, not an id")
    _text(_dict(obj.get("body"), "body").get("text"), limits.INTERACTIVE_BODY_MAX, "body text")
    if "footer" in obj:
        _text(_dict(obj["footer"], "footer").get("text"), limits.FOOTER_TEXT_MAX, "footer text")
    action = _dict(obj.get("action"), "action")
    _buttons(action) if kind == "button" else _list(action)


MEDIA_TYPES = tuple(limits.MEDIA_MAX_BYTES)
_MEDIA_KEYS = frozenset({"link", "caption", "filename", "mime_type", "file_size"})


def _link(value: Any, what: str) -> None:
    _check(
        isinstance(value, str),
        f"{what} must be a link (media ids are not accepted)",
        "INVALID_MEDIA",
    )
    parts = urlsplit(value)
    _check(
        parts.scheme in ("http", "https") and bool(parts.netloc),
        f"invalid {what} {value!r}",
        "INVALID_MEDIA",
    )


def media(kind: str, obj: Any) -> None:
    """Meta's media object (``link`` + optional ``caption``/``filename``); the simulator also
    honours a declared ``mime_type``/``file_size`` to exercise WhatsApp's limits (§2.6)."""
    obj = _dict(obj, kind)
    unknown = set(obj) - _MEDIA_KEYS
    _check(not unknown, f"unknown {kind} fields {sorted(unknown)}", "INVALID_MEDIA")
    _link(obj.get("link"), f"{kind}.link")
    if "caption" in obj:
        _check(kind in limits.CAPTIONED_MEDIA, f"a {kind} cannot carry a caption", "INVALID_MEDIA")
        _text(obj["caption"], limits.CAPTION_MAX, f"{kind}.caption")
    if "filename" in obj:
        _check(kind == "document", "only documents carry a filename", "INVALID_MEDIA")
        _text(obj["filename"], limits.FILENAME_MAX, "document.filename")
    mime = obj.get("mime_type")
    if mime is not None:
        allowed = limits.MEDIA_MIME_TYPES[kind]
        base = str(mime).split(";", 1)[0].strip().lower()
        _check(
            allowed is None or base in allowed,
            f"{kind} type {mime!r} is not supported",
            "MEDIA_TYPE_NOT_SUPPORTED",
        )
    size = obj.get("file_size")
    if size is not None:
        _check(
            isinstance(size, int) and size >= 0, "file_size must be a byte count", "INVALID_MEDIA"
        )
        most = limits.MEDIA_MAX_BYTES[kind]
        _check(size <= most, f"{kind} is larger than {most} bytes", "MEDIA_TOO_LARGE")


def session(body: dict[str, Any]) -> Outgoing:
    """A ``/whatsapp-outbound-message/`` body (flat or wrapper form)."""
    content_type = body.get("content_type")
    payload = body.get("payload")
    if payload is not None:
        payload = _dict(payload, "payload")
        _check(payload.get("messaging_product") == "whatsapp", "messaging_product must be whatsapp")
        to = _recipient(payload.get("to"))
        _check(payload.get("type") == content_type, "payload.type must equal content_type")
        source = payload
        text = _dict(payload.get("text"), "text").get("body") if content_type == "text" else None
    else:
        to = _recipient(body.get("recipient_number"))
        source = body
        text = body.get("text")
    if content_type == "text":
        _text(text, limits.TEXT_MAX, "text")
    elif content_type == "interactive":
        interactive(source.get("interactive"))
    elif content_type in MEDIA_TYPES:
        _check(payload is not None, "media is sent in the payload form", "INVALID_MEDIA")
        media(str(content_type), source.get(str(content_type)))
    elif content_type == "template":
        raise Rejection("templates are sent through /whatsapp-outbound-message/bulk/")
    else:
        raise Rejection(f"unsupported content_type {content_type!r}", "INVALID_CONTENT_TYPE")
    return Outgoing(to=to, kind=str(content_type))


def bulk(body: dict[str, Any]) -> list[Outgoing]:
    """A ``/whatsapp-outbound-message/bulk/`` template body: one Outgoing per recipient."""
    _check(body.get("content_type") == "template", "content_type must be 'template'")
    payload = _dict(body.get("payload"), "payload")
    _check(payload.get("messaging_product") == "whatsapp", "messaging_product must be whatsapp")
    _check(payload.get("type") == "template", "payload.type must be 'template'")
    template = _dict(payload.get("template"), "template")
    _text(template.get("name"), limits.TEMPLATE_NAME_MAX, "template name")
    language = _dict(template.get("language"), "template language")
    _text(language.get("code"), 16, "template language code")
    _check(language.get("policy", "deterministic") == "deterministic", "invalid language policy")
    targets = _items(template.get("to_and_components"), "to_and_components")
    out: list[Outgoing] = []
    for target in targets:
        target = _dict(target, "to_and_components item")
        recipients = _items(target.get("to"), "'to'")
        components = _dict(target.get("components", {}), "components")
        params = 0
        for key, comp in components.items():
            _check(bool(_COMPONENT.match(key)), f"invalid component name {key!r}")
            comp = _dict(comp, key)
            _check(isinstance(comp.get("type"), str), f"{key}.type is required")
            value = comp.get("value")
            _check(isinstance(value, str) and bool(value), f"{key}.value is required")
            assert isinstance(value, str)
            if key.startswith("header_") and comp["type"] != "text":
                _check(comp["type"] in ("image", "document", "video"), f"invalid {key}.type")
                _link(value, f"{key}.value")
            if key.startswith("body_"):
                params += 1
                _check("\n" not in value, "next line(\\n) is not supported for body value")
                _check("\t" not in value, "tab(\\t) is not supported for body value")
        for to in recipients:
            out.append(
                Outgoing(
                    to=_recipient(to),
                    kind="template",
                    template_name=template["name"],
                    template_language=language["code"],
                    body_params=params,
                )
            )
    return out
