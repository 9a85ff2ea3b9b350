"""Graph request bodies (pure): the reference's literal shapes, limits refused before HTTP."""

from __future__ import annotations

import pytest

from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton
from supportbot.meta.errors import InvalidOutboundMessage
from supportbot.meta.payloads import (
    MediaMessage,
    TemplateHeader,
    TemplateMessage,
    accepted_ids,
    media_body,
    message_body,
    messages_path,
    read_receipt_body,
    template_body,
)

TO = "16505551234"


def test_path() -> None:
    assert messages_path("v21.0", "106540352242922") == "/v21.0/106540352242922/messages"


def test_text_matches_the_reference_literally() -> None:
    body = message_body(TO, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"))
    assert body == {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "Hi"},
    }


def test_reply_quoting_uses_context() -> None:
    body = message_body(
        TO, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"), context_id="wamid.A"
    )
    assert body["context"] == {"message_id": "wamid.A"}


def test_read_receipt_with_typing_matches_the_reference_literally() -> None:
    assert read_receipt_body("wamid.X") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.X",
        "typing_indicator": {"type": "text"},
    }
    assert "typing_indicator" not in read_receipt_body("wamid.X", typing=False)


def test_buttons_and_list() -> None:
    buttons = message_body(
        TO,
        OutboundMessage(
            kind=OutboundKind.BUTTONS,
            text="How can we help?",
            buttons=(ReplyButton("a", "Orders"), ReplyButton("b", "Agent")),
        ),
    )
    assert buttons["type"] == "interactive"
    assert buttons["interactive"] == {
        "type": "button",
        "body": {"text": "How can we help?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "Orders"}},
                {"type": "reply", "reply": {"id": "b", "title": "Agent"}},
            ]
        },
    }
    listing = message_body(
        TO,
        OutboundMessage(
            kind=OutboundKind.LIST,
            text="Pick",
            list_button="Topics",
            sections=(ListSection("Help", (ListRow("r1", "Refunds", "How"),)),),
        ),
    )
    assert listing["interactive"]["action"] == {
        "button": "Topics",
        "sections": [
            {"title": "Help", "rows": [{"id": "r1", "title": "Refunds", "description": "How"}]}
        ],
    }


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage(kind=OutboundKind.TEXT, text=""),
        OutboundMessage(kind=OutboundKind.TEXT, text="x" * 4097),
        OutboundMessage(
            kind=OutboundKind.BUTTONS,
            text="b",
            buttons=tuple(ReplyButton(str(i), f"t{i}") for i in range(4)),
        ),
        OutboundMessage(kind=OutboundKind.BUTTONS, text="b", buttons=(ReplyButton("1", "x" * 21),)),
        OutboundMessage(
            kind=OutboundKind.LIST,
            text="b",
            list_button="L",
            sections=(ListSection("s", tuple(ListRow(str(i), "r") for i in range(11))),),
        ),
        OutboundMessage(kind=OutboundKind.TEMPLATE),
    ],
)
def test_limits_are_refused_before_any_request(message: OutboundMessage) -> None:
    with pytest.raises(InvalidOutboundMessage):
        message_body(TO, message)


def test_media_by_link_and_by_id() -> None:
    image = media_body(TO, MediaMessage("image", link="https://x/a.png", caption="A"))
    assert image == {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "image",
        "image": {"link": "https://x/a.png", "caption": "A"},
    }
    doc = media_body(TO, MediaMessage("document", media_id="1234", filename="a.pdf"))
    assert doc["document"] == {"id": "1234", "filename": "a.pdf"}
    with pytest.raises(InvalidOutboundMessage):
        media_body(TO, MediaMessage("image", link="https://x", media_id="1"))
    with pytest.raises(InvalidOutboundMessage):
        media_body(TO, MediaMessage("audio", media_id="1", caption="no captions on audio"))
    with pytest.raises(InvalidOutboundMessage):
        media_body(TO, MediaMessage("image", media_id="1", filename="only documents"))


def test_provider_neutral_media_and_template_header_messages() -> None:
    image = OutboundMessage(
        kind=OutboundKind.IMAGE, text="Your label", media_url="https://x/label.png"
    )
    assert message_body(TO, image) == media_body(
        TO, MediaMessage("image", link="https://x/label.png", caption="Your label")
    )
    doc = OutboundMessage(
        kind=OutboundKind.DOCUMENT, media_url="https://x/m.pdf", media_filename="m.pdf"
    )
    assert message_body(TO, doc)["document"] == {"link": "https://x/m.pdf", "filename": "m.pdf"}
    template = OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name="shipped",
        template_params=("Asha",),
        template_header_type="image",
        template_header_url="https://x/banner.png",
    )
    assert message_body(TO, template) == template_body(
        TO,
        TemplateMessage(
            "shipped", "en", ("Asha",), TemplateHeader("image", "https://x/banner.png")
        ),
    )
    with pytest.raises(InvalidOutboundMessage):
        message_body(TO, OutboundMessage(kind=OutboundKind.STICKER, text="no caption allowed",
                                         media_url="https://x/s.webp"))  # fmt: skip


def test_template_with_media_header_and_sanitised_params() -> None:
    body = template_body(
        TO,
        TemplateMessage(
            "order_update",
            "en",
            ("Asha", "line\none"),
            TemplateHeader("image", link="https://x/banner.png"),
        ),
    )
    assert body["template"] == {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://x/banner.png"}}],
            },
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Asha"},
                    {"type": "text", "text": "line one"},
                ],
            },
        ],
    }


def test_accepted_ids() -> None:
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.Z"}],
    }
    assert accepted_ids(body) == ("wamid.Z", "16505551234")
    assert accepted_ids({"success": True}) == (None, None)
    assert accepted_ids(None) == (None, None)
