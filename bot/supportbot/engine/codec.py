"""JSON round trip of `OutboundMessage` (with its nested buttons and list sections). Pure.

The engine keeps a turn's decided replies in Redis (`plan.TurnPlan`) so a retried turn re-sends
exactly what the first attempt decided; this is the codec for the messages inside it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton


def outbound_to_dict(message: OutboundMessage) -> dict[str, Any]:
    doc = asdict(message)
    doc["kind"] = message.kind.value
    result: dict[str, Any] = _lists(doc)
    return result


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def outbound_from_dict(doc: dict[str, Any]) -> OutboundMessage:
    """Inverse of `outbound_to_dict`; raises KeyError/TypeError/ValueError on a bad document."""
    buttons = tuple(ReplyButton(id=b["id"], title=b["title"]) for b in doc.get("buttons") or ())
    sections = tuple(
        ListSection(
            title=s["title"],
            rows=tuple(
                ListRow(id=r["id"], title=r["title"], description=r.get("description"))
                for r in s["rows"]
            ),
        )
        for s in doc.get("sections") or ()
    )
    return OutboundMessage(
        kind=OutboundKind(doc["kind"]),
        text=doc.get("text") or "",
        header=doc.get("header"),
        footer=doc.get("footer"),
        buttons=buttons,
        list_button=doc.get("list_button"),
        sections=sections,
        template_name=doc.get("template_name"),
        template_language=doc.get("template_language"),
        template_params=tuple(doc.get("template_params") or ()),
        media_url=doc.get("media_url"),
        media_filename=doc.get("media_filename"),
        media_mime=doc.get("media_mime"),
        media_size=doc.get("media_size"),
        template_header_type=doc.get("template_header_type"),
        template_header_url=doc.get("template_header_url"),
    )
