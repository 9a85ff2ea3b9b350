"""Media in flows (pure): a step that accepts a photo stores its reference and moves on, a kind the
flow does not take gets its configured reply, captions stay text for intents and the LLM, steps
send media; the schema's media rules are reported with line numbers."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from typing import Any

from supportbot.flow import SessionState, decide, load_flow_text, validate_flow_text
from supportbot.flow.state import LLMRequest
from supportbot.messages import InboundMessage, MessageKind, OutboundKind

NOW = datetime(2026, 3, 11, 5, 30, tzinfo=UTC)
PHOTO = "https://files.msg91.example/media/cracked.jpg"

FLOW = textwrap.dedent(
    """\
    version: 1
    name: media
    start: menu
    steps:
      menu:
        text: "How can we help?"
        buttons:
          - {id: damaged, title: "Damaged item", goto: ask_photo}
      ask_photo:
        text: "Please send a photo of the damaged item."
        accept: [image]
        ask: {slot: damage_photo, invalid: "Please send a photo (or type 'agent')."}
        on_media: thanks
      thanks:
        media: {kind: image, url: "https://cdn.example.com/returns-label.png"}
        text: "Thanks! Print this label: {{damage_photo}}"
        next: menu
      manual:
        media: {kind: document, url: "https://cdn.example.com/manual.pdf", filename: manual.pdf}
    intents:
      - {id: refund, keywords: [refund], reply: "Refunds take 5 days."}
    llm:
      system_prompt: "You help."
    fallback:
      media:
        audio: "Sorry, we can't listen to voice notes. Please type your question."
        location: "Thanks, but we don't need your location."
        default: "Sorry, we can't open that here."
    """
)


def message(kind: MessageKind, text: str | None = None, **fields: Any) -> InboundMessage:
    return dataclasses.replace(
        InboundMessage(
            tenant_id="acme",
            customer_id="919876543210",
            message_id=f"wamid.{kind}.{text}",
            kind=kind,
            received_at=0.0,
            text=text,
        ),
        **fields,
    )


def at(step: str) -> SessionState:
    return SessionState(greeted=True, step=step, awaiting_slot=None)


def test_a_step_that_accepts_an_image_stores_its_reference_and_moves_on() -> None:
    flow = load_flow_text(FLOW)
    photo = message(MessageKind.IMAGE, "cracked lid", media_url=PHOTO, media_mime="image/jpeg")
    d = decide(flow, at("ask_photo"), [photo], NOW)
    assert d.state.slots["damage_photo"] == PHOTO
    assert d.outcome == "media" and d.effects == ()  # the caption is not sent to the LLM
    sent = d.messages[0]
    assert sent.kind is OutboundKind.IMAGE
    assert sent.media_url == "https://cdn.example.com/returns-label.png"
    assert sent.text == f"Thanks! Print this label: {PHOTO}"
    assert d.messages[1].kind is OutboundKind.BUTTONS and d.state.step == "menu"


def test_a_meta_media_id_is_stored_when_there_is_no_url() -> None:
    flow = load_flow_text(FLOW)
    photo = message(MessageKind.IMAGE, extra={"media_id": "1013859600285441"})
    d = decide(flow, at("ask_photo"), [photo], NOW)
    assert d.state.slots["damage_photo"] == "media:1013859600285441"


def test_text_or_another_kind_at_the_photo_step_does_not_count() -> None:
    flow = load_flow_text(FLOW)
    state = SessionState(greeted=True, step="ask_photo", awaiting_slot="damage_photo")
    voice = message(MessageKind.AUDIO, media_url="https://files.example/v.ogg")
    d = decide(flow, state, [voice], NOW)
    assert [m.text for m in d.messages] == [flow.fallback.media["audio"]]  # type: ignore[index]
    assert d.outcome == "unsupported" and "damage_photo" not in d.state.slots
    doc = message(MessageKind.DOCUMENT, media_url="https://files.example/x.pdf")
    d = decide(flow, state, [doc], NOW)
    assert [m.text for m in d.messages] == ["Sorry, we can't open that here."]


def test_location_gets_its_configured_reply_even_with_a_label() -> None:
    flow = load_flow_text(FLOW)
    place = message(MessageKind.LOCATION, "Home", extra={"latitude": 1.0, "longitude": 2.0})
    d = decide(flow, at("menu"), [place], NOW)
    assert [m.text for m in d.messages] == ["Thanks, but we don't need your location."]


def test_captions_are_text_for_intents_and_the_llm() -> None:
    flow = load_flow_text(FLOW)
    refund = message(MessageKind.IMAGE, "I want a refund", media_url=PHOTO)
    d = decide(flow, at("menu"), [refund], NOW)
    assert [m.text for m in d.messages] == ["Refunds take 5 days."]
    question = message(MessageKind.IMAGE, "is this covered by warranty?", media_url=PHOTO)
    d = decide(flow, SessionState(greeted=True), [question], NOW)
    (request,) = d.effects
    assert isinstance(request, LLMRequest)
    assert request.user_text == "[image] is this covered by warranty?"


def test_without_fallback_media_the_generic_unsupported_text_stays() -> None:
    flow = load_flow_text(FLOW.split("\nfallback:")[0])
    d = decide(flow, at("menu"), [message(MessageKind.STICKER, media_url=PHOTO)], NOW)
    assert [m.text for m in d.messages] == [flow.fallback.unsupported]


def test_a_step_sends_a_document_with_its_filename() -> None:
    flow = load_flow_text(FLOW.replace("start: menu", "start: manual"))
    d = decide(flow, None, [message(MessageKind.TEXT, "hi")], NOW)
    (doc,) = d.messages
    assert doc.kind is OutboundKind.DOCUMENT and doc.media_filename == "manual.pdf"


def test_media_rules_are_reported_with_line_numbers() -> None:
    bad = FLOW.replace("accept: [image]", "accept: [image, hologram]")
    bad = bad.replace("on_media: thanks", "on_media: nowhere")
    bad = bad.replace('url: "https://cdn.example.com/manual.pdf"', 'url: "file:///etc/passwd"')
    errors = validate_flow_text(bad)
    assert any(e.startswith("line 11: steps.ask_photo.accept[1]: ") for e in errors), errors
    assert any(e.startswith("line 19: steps.manual.media.url: ") for e in errors), errors
    fixed = bad.replace("accept: [image, hologram]", "accept: [image]").replace(
        '"file:///etc/passwd"', '"https://x.example/m.pdf"'
    )
    assert validate_flow_text(fixed) == [
        "line 13: steps.ask_photo.on_media: unknown step 'nowhere' "
        "(steps: ask_photo, manual, menu, thanks)"
    ]
    lonely = FLOW.replace("    accept: [image]\n", "")
    assert validate_flow_text(lonely)[0].startswith("line 9: steps.ask_photo: ")
    menu_media = FLOW.replace(
        '    text: "How can we help?"\n',
        '    text: "How can we help?"\n    media: {kind: image, url: "https://x.example/a.png"}\n',
    )
    assert "cannot be combined" in validate_flow_text(menu_media)[0]
