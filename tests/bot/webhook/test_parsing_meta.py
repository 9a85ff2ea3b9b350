"""Meta Cloud API envelopes: message types, several items per post, BSUID-only users, statuses."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from supportbot.messages import DeliveryReport, DeliveryState, InboundMessage, MessageKind
from supportbot.webhook import testing as t
from supportbot.webhook.parsing import ParsedPayload, ParseError, parse_payload

RECEIVED = 1_780_000_000.0
CONTACT = {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}


def parse(body: dict[str, Any]) -> ParsedPayload:
    parsed = parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert parsed.family == "meta"
    return parsed


def one_message(
    msg: dict[str, Any], contacts: list[dict[str, Any]] | None = None
) -> InboundMessage:
    parsed = parse(
        t.meta_envelope(messages=[msg], contacts=[CONTACT] if contacts is None else contacts)
    )
    assert not parsed.rejected
    [value] = parsed.messages
    return value


CASES = [
    pytest.param(
        t.meta_message("text", {"body": "Does it come in another color?"}),
        {
            "kind": MessageKind.TEXT,
            "text": "Does it come in another color?",
            "customer_id": "16505551234",
            "customer_name": "Sheena Nelson",
            "sent_at": 1749416383.0,
        },
        id="text",
    ),
    pytest.param(
        t.meta_message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "opt_no", "title": "No"}},
        ),
        {"kind": MessageKind.INTERACTIVE, "text": "No", "reply_id": "opt_no"},
        id="interactive-button",
    ),
    pytest.param(
        t.meta_message(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "r1", "title": "Refund"}},
        ),
        {"kind": MessageKind.INTERACTIVE, "text": "Refund", "reply_id": "r1"},
        id="interactive-list",
    ),
    pytest.param(
        t.meta_message(
            "button",
            {"payload": "TALK_TO_AGENT", "text": "Talk to agent"},
            context={"from": t.NUMBER, "id": "wamid.TEMPLATE"},
        ),
        {
            "kind": MessageKind.BUTTON,
            "text": "Talk to agent",
            "reply_id": "TALK_TO_AGENT",
            "extra": {"reply_to": "wamid.TEMPLATE"},
        },
        id="template-quick-reply",
    ),
    pytest.param(
        t.meta_message(
            "image",
            {"caption": "broken", "mime_type": "image/jpeg", "sha256": "abc", "id": "med-1"},
        ),
        {
            "kind": MessageKind.IMAGE,
            "text": "broken",
            "media_url": None,
            "media_mime": "image/jpeg",
            "extra": {"media_id": "med-1", "sha256": "abc"},
        },
        id="image-media-id",
    ),
    pytest.param(
        t.meta_message(
            "document",
            {"filename": "a.pdf", "mime_type": "application/pdf", "id": "med-2"},
        ),
        {"kind": MessageKind.DOCUMENT, "extra": {"filename": "a.pdf", "media_id": "med-2"}},
        id="document",
    ),
    pytest.param(
        t.meta_message("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "m3", "voice": True}),
        {
            "kind": MessageKind.AUDIO,
            "media_mime": "audio/ogg; codecs=opus",
            "extra": {"voice": True},
        },
        id="voice-note",
    ),
    pytest.param(
        t.meta_message("video", {"mime_type": "video/mp4", "id": "m4"}),
        {"kind": MessageKind.VIDEO},
        id="video",
    ),
    pytest.param(
        t.meta_message("sticker", {"mime_type": "image/webp", "id": "m5", "animated": True}),
        {"kind": MessageKind.STICKER, "extra": {"animated": True}},
        id="sticker",
    ),
    pytest.param(
        t.meta_message("location", {"latitude": -33.86, "longitude": 151.2, "name": "Office"}),
        {"kind": MessageKind.LOCATION, "text": "Office", "extra": {"latitude": -33.86}},
        id="location",
    ),
    pytest.param(
        t.meta_message("contacts", [{"name": {"formatted_name": "Ann"}, "phones": []}]),
        {"kind": MessageKind.CONTACTS, "text": "Ann"},
        id="contacts",
    ),
    pytest.param(
        t.meta_message("reaction", {"message_id": "wamid.OUT", "emoji": "\u2764\ufe0f"}),
        {
            "kind": MessageKind.REACTION,
            "text": "\u2764\ufe0f",
            "extra": {"message_id": "wamid.OUT"},
        },
        id="reaction",
    ),
    pytest.param(
        t.meta_message(
            "unsupported",
            None,
            errors=[{"code": 131051, "title": "Message type unknown"}],
        ),
        {"kind": MessageKind.UNKNOWN, "extra": {"type": "unsupported"}},
        id="unsupported",
    ),
    pytest.param(
        t.meta_message("system", {"body": "User changed number", "type": "user_changed_number"}),
        {"kind": MessageKind.UNKNOWN, "extra": {"type": "system"}},
        id="system",
    ),
    pytest.param(
        t.meta_message("text", {"body": "hi"}, referral={"source_type": "ad", "body": "AD TEXT"}),
        {"text": "hi", "extra": {"referral": {"source_type": "ad", "body": "AD TEXT"}}},
        id="referral-kept-but-not-used-as-text",
    ),
]


@pytest.mark.parametrize(("msg", "expected"), CASES)
def test_meta_message(msg: dict[str, Any], expected: dict[str, Any]) -> None:
    value = one_message(msg)
    for name, want in expected.items():
        got = getattr(value, name)
        if name == "extra":
            assert {k: got.get(k) for k in want} == want, got
        else:
            assert got == want, name
    assert InboundMessage.from_json(value.to_json()) == value


def test_unknown_type_keeps_whole_message() -> None:
    msg = t.meta_message("order", {"catalog_id": "c1", "product_items": []})
    value = one_message(msg)
    assert value.kind is MessageKind.UNKNOWN
    assert value.extra["payload"] == msg


def test_several_messages_across_changes_all_parsed() -> None:
    body = t.meta_envelope(
        messages=[
            t.meta_message("text", {"body": "one"}, msg_id="wamid.1"),
            t.meta_message("text", {"body": "two"}, msg_id="wamid.2"),
        ],
        contacts=[CONTACT],
    )
    second = t.meta_envelope(
        messages=[
            t.meta_message("text", {"body": "three"}, msg_id="wamid.3", sender="447700900000")
        ],
        contacts=[{"profile": {"name": "Bob"}, "wa_id": "447700900000"}],
    )
    body["entry"].append(second["entry"][0])
    parsed = parse(body)
    assert [(m.message_id, m.text, m.customer_id) for m in parsed.messages] == [
        ("wamid.1", "one", "16505551234"),
        ("wamid.2", "two", "16505551234"),
        ("wamid.3", "three", "447700900000"),
    ]
    assert parsed.messages[2].customer_name == "Bob"
    assert {i.business_number for i in parsed.items} == {t.NUMBER}


def test_bsuid_only_user() -> None:
    msg = t.meta_message(
        "text", {"body": "hi"}, sender=None, from_user_id="US.13491208655302741918"
    )
    contact = {
        "profile": {"name": "Jane", "username": "@jane"},
        "user_id": "US.13491208655302741918",
        "parent_user_id": "US.ENT.99",
    }
    value = one_message(msg, contacts=[contact])
    assert value.customer_id == "US.13491208655302741918"
    assert value.phone is None and value.bsuid == "US.13491208655302741918"
    assert value.customer_name == "Jane"
    assert value.extra["username"] == "@jane" and value.extra["parent_bsuid"] == "US.ENT.99"


def test_bsuid_from_contact_when_message_has_only_phone() -> None:
    msg = t.meta_message("text", {"body": "hi"})
    contact = {**CONTACT, "user_id": "US.42"}
    value = one_message(msg, contacts=[contact])
    assert value.customer_id == "US.42" and value.phone == "16505551234"


def test_contact_matched_by_wa_id_among_several() -> None:
    msg = t.meta_message("text", {"body": "hi"}, sender="447700900000")
    contacts = [CONTACT, {"profile": {"name": "Bob"}, "wa_id": "447700900000"}]
    assert one_message(msg, contacts=contacts).customer_name == "Bob"


def test_bad_item_rejected_good_items_kept() -> None:
    body = t.meta_envelope(
        messages=[
            t.meta_message("text", {"body": "ok"}, msg_id="wamid.ok"),
            t.meta_message("text", {"body": "who?"}, msg_id="wamid.bad", sender=None),
        ],
        statuses=[t.meta_status("exploded")],
        contacts=[],
    )
    parsed = parse(body)
    assert [m.message_id for m in parsed.messages] == ["wamid.ok"]
    assert sorted(e.reason for e in parsed.rejected) == ["missing_sender", "unknown_delivery_state"]


def test_all_items_bad_raises_first_error() -> None:
    body = t.meta_envelope(
        messages=[t.meta_message("text", {"body": "x"}, sender=None)], contacts=[]
    )
    with pytest.raises(ParseError) as caught:
        parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert caught.value.reason == "missing_sender"


def test_missing_ids_fall_back_to_indexed_body_hash() -> None:
    first = t.meta_message("text", {"body": "a"})
    second = t.meta_message("text", {"body": "b"})
    del first["id"], second["id"]
    body = t.meta_envelope(messages=[first, second], contacts=[CONTACT])
    raw = t.encode(body)
    parsed = parse_payload(raw, tenant_id=t.TENANT, received_at=RECEIVED)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert [m.message_id for m in parsed.messages] == [digest, digest + ":1"]


def test_envelope_without_messages_yields_nothing() -> None:
    body = t.meta_envelope()
    body["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    parsed = parse(body)
    assert parsed.items == () and parsed.rejected == ()


@pytest.mark.parametrize(
    "body",
    [
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": "nope"},
    ],
)
def test_envelope_without_entry_list_is_rejected(body: dict[str, Any]) -> None:
    with pytest.raises(ParseError) as caught:
        parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert caught.value.reason == "unrecognised_payload"


def test_failed_status_real_payload() -> None:
    status = t.meta_status(
        "failed",
        msg_id="wamid.H1",
        errors=[
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "more than 24 hours have passed"},
            }
        ],
    )
    [report] = parse(t.meta_envelope(statuses=[status])).reports
    assert report.state is DeliveryState.FAILED
    assert report.provider_message_id == "wamid.H1"
    assert report.error_code == "131047"
    assert report.error_reason == "more than 24 hours have passed"
    assert report.occurred_at == 1749416400.0
    assert report.customer_id == "16505551234"
    assert DeliveryReport.from_json(report.to_json()) == report


def test_statuses_batch_with_pricing_and_bsuid_recipient() -> None:
    statuses = [
        t.meta_status(
            "sent",
            msg_id="wamid.S",
            conversation={"id": "c1", "origin": {"type": "service"}},
            pricing={"billable": True, "category": "service"},
        ),
        t.meta_status("read", msg_id="wamid.S", recipient_user_id="US.55"),
        t.meta_status("played", msg_id="wamid.V"),
    ]
    reports = parse(t.meta_envelope(statuses=statuses)).reports
    assert [(r.provider_message_id, r.state) for r in reports] == [
        ("wamid.S", DeliveryState.SENT),
        ("wamid.S", DeliveryState.READ),
        ("wamid.V", DeliveryState.READ),
    ]
    assert reports[0].extra["pricing"]["category"] == "service"
    assert reports[1].customer_id == "US.55"
    assert reports[0].error_code is None


def test_display_number_is_business_number() -> None:
    parsed = parse(t.meta_envelope(statuses=[t.meta_status()], number="+1 555-078-3881"))
    assert parsed.items[0].business_number == "15550783881"
