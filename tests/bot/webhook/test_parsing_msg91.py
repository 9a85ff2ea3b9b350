"""MSG91 flat payloads: every message type, the placeholder/stringified quirks, BSUID, DLRs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from supportbot.messages import DeliveryReport, DeliveryState, InboundMessage, MessageKind
from supportbot.webhook import testing as t
from supportbot.webhook.parsing import ParseError, parse_payload

RECEIVED = 1_780_000_000.0
ISO_TS = 1779527612.0


def parse_one(body: dict[str, Any]) -> InboundMessage | DeliveryReport:
    parsed = parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert parsed.family == "msg91"
    assert len(parsed.items) == 1 and not parsed.rejected
    return parsed.items[0].value


def message(body: dict[str, Any]) -> InboundMessage:
    value = parse_one(body)
    assert isinstance(value, InboundMessage)
    return value


def stringify(value: Any) -> str:
    return json.dumps(value)


def with_fields(**fields: Any) -> dict[str, Any]:
    """An inbound MSG91 body of the test customer (placeholders elsewhere)."""
    base: dict[str, Any] = {
        "customerNumber": t.CUSTOMER,
        "integratedNumber": t.NUMBER,
        "uuid": "wamid.ABC",
        "direction": "inbound",
    }
    base.update(fields)
    return t.msg91(**base)


MESSAGE_CASES = [
    pytest.param(
        # The production-log text payload (no placeholders at all).
        {
            "customerNumber": "919538281101",
            "integratedNumber": "919591327778",
            "customerName": "SJSJASSS",
            "contentType": "text",
            "text": "Hello",
            "uuid": "wamid.xxx",
            "ts": "2026-05-23T14:43:32+05:30",
            "messageType": "text",
        },
        {
            "kind": MessageKind.TEXT,
            "text": "Hello",
            "customer_id": "919538281101",
            "phone": "919538281101",
            "customer_name": "SJSJASSS",
            "message_id": "wamid.xxx",
            "sent_at": ISO_TS,
        },
        id="text-production-shape",
    ),
    pytest.param(
        t.msg91_text("Where is my order?"),
        {"kind": MessageKind.TEXT, "text": "Where is my order?", "customer_name": "Asha"},
        id="text-template-shape",
    ),
    pytest.param(
        with_fields(
            contentType="interactive",
            interactive=stringify(
                {"type": "button_reply", "button_reply": {"id": "opt_yes", "title": "Yes"}}
            ),
            text="{{text}}",
            ts="1730092801",
        ),
        {
            "kind": MessageKind.INTERACTIVE,
            "text": "Yes",
            "reply_id": "opt_yes",
            "sent_at": 1730092801.0,
            "extra": {"interactive_type": "button_reply"},
        },
        id="interactive-button-reply-stringified",
    ),
    pytest.param(
        with_fields(
            messageType="interactive",
            interactive=stringify(
                {
                    "type": "list_reply",
                    "list_reply": {"id": "row_2", "title": "Track order", "description": "Where"},
                }
            ),
        ),
        {
            "kind": MessageKind.INTERACTIVE,
            "text": "Track order",
            "reply_id": "row_2",
            "extra": {"interactive_type": "list_reply", "description": "Where"},
        },
        id="interactive-list-reply",
    ),
    pytest.param(
        with_fields(
            messageType="interactive",
            interactive={"type": "button_reply", "button_reply": {"id": "b1", "title": "Menu"}},
        ),
        {"kind": MessageKind.INTERACTIVE, "text": "Menu", "reply_id": "b1"},
        id="interactive-as-real-object",
    ),
    pytest.param(
        with_fields(
            messageType="interactive",
            interactive=stringify(
                {
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "name": "flow",
                        "body": "Sent",
                        "response_json": '{"flow_token": "x"}',
                    },
                }
            ),
        ),
        {
            "kind": MessageKind.INTERACTIVE,
            "text": "Sent",
            "extra": {
                "interactive_type": "nfm_reply",
                "response": {"flow_token": "x"},
                "name": "flow",
            },
        },
        id="interactive-nfm-reply",
    ),
    pytest.param(
        with_fields(messageType="button", button="Talk to agent"),
        {"kind": MessageKind.BUTTON, "text": "Talk to agent", "reply_id": None},
        id="template-button-title-string",
    ),
    pytest.param(
        with_fields(
            messageType="button", button=stringify({"text": "Stop", "payload": "STOP_PROMO"})
        ),
        {"kind": MessageKind.BUTTON, "text": "Stop", "reply_id": "STOP_PROMO"},
        id="template-button-stringified",
    ),
    pytest.param(
        with_fields(
            messageType="image",
            contentType="image",
            url="https://media.example/abc.jpg",
            caption="my receipt",
            mimeType="image/jpeg",
        ),
        {
            "kind": MessageKind.IMAGE,
            "text": "my receipt",
            "media_url": "https://media.example/abc.jpg",
            "media_mime": "image/jpeg",
        },
        id="image-flat-url-caption-mime",
    ),
    pytest.param(
        with_fields(
            messageType="document",
            url="https://media.example/inv.pdf",
            filename="invoice.pdf",
            messages=stringify(
                [
                    {
                        "from": t.CUSTOMER,
                        "id": "wamid.ABC",
                        "type": "document",
                        "document": {"id": "media-9", "mime_type": "application/pdf"},
                    }
                ]
            ),
        ),
        {
            "kind": MessageKind.DOCUMENT,
            "text": None,
            "media_url": "https://media.example/inv.pdf",
            "media_mime": "application/pdf",  # from the relayed Meta object
            "extra": {"media_id": "media-9", "filename": "invoice.pdf"},
        },
        id="document-flat-plus-relayed-mime",
    ),
    pytest.param(
        with_fields(
            messageType="document",
            url="https://media.example/manual.pdf",
            filename="manual.pdf",
            fileSize="482133",
        ),
        {
            "kind": MessageKind.DOCUMENT,
            "media_url": "https://media.example/manual.pdf",
            "extra": {"filename": "manual.pdf", "size": 482133},
        },
        id="document-flat-declared-size",
    ),
    pytest.param(
        with_fields(messageType="audio", url="https://media.example/v.ogg"),
        {"kind": MessageKind.AUDIO, "media_url": "https://media.example/v.ogg"},
        id="audio",
    ),
    pytest.param(
        with_fields(messageType="video", url="https://media.example/v.mp4", caption="look"),
        {"kind": MessageKind.VIDEO, "media_url": "https://media.example/v.mp4", "text": "look"},
        id="video",
    ),
    pytest.param(
        with_fields(messageType="sticker", url="https://media.example/s.webp"),
        {"kind": MessageKind.STICKER, "media_url": "https://media.example/s.webp"},
        id="sticker",
    ),
    pytest.param(
        with_fields(
            messageType="image",
            messages=stringify(
                [{"type": "image", "image": {"id": "m-1", "mime_type": "image/png"}}]
            ),
        ),
        {
            "kind": MessageKind.IMAGE,
            "media_url": None,
            "media_mime": "image/png",
            "extra": {"media_id": "m-1"},
        },
        id="image-only-relayed-media-id",
    ),
    pytest.param(
        with_fields(messageType="location", latitude="12.9716", longitude="77.5946"),
        {
            "kind": MessageKind.LOCATION,
            "text": None,
            "extra": {"latitude": 12.9716, "longitude": 77.5946},
        },
        id="location-flat-strings",
    ),
    pytest.param(
        with_fields(
            messageType="location",
            messages=stringify(
                [
                    {
                        "type": "location",
                        "location": {
                            "latitude": 1.5,
                            "longitude": 2.5,
                            "name": "Shop",
                            "address": "MG Road",
                        },
                    }
                ]
            ),
        ),
        {
            "kind": MessageKind.LOCATION,
            "text": "Shop, MG Road",
            "extra": {"latitude": 1.5, "longitude": 2.5, "name": "Shop", "address": "MG Road"},
        },
        id="location-relayed",
    ),
    pytest.param(
        with_fields(
            messageType="contacts",
            contacts=stringify(
                [{"name": {"formatted_name": "Ravi K"}, "phones": [{"phone": "+91 99"}]}]
            ),
        ),
        {
            "kind": MessageKind.CONTACTS,
            "text": "Ravi K",
            "extra": {
                "contacts": [
                    {"name": {"formatted_name": "Ravi K"}, "phones": [{"phone": "+91 99"}]}
                ]
            },
        },
        id="contacts-stringified",
    ),
    pytest.param(
        with_fields(
            messageType="reaction",
            reaction=stringify({"message_id": "wamid.OUT1", "emoji": "\U0001f44d"}),
        ),
        {
            "kind": MessageKind.REACTION,
            "text": "\U0001f44d",
            "extra": {"emoji": "\U0001f44d", "message_id": "wamid.OUT1"},
        },
        id="reaction-stringified",
    ),
    pytest.param(
        with_fields(messageType="reaction", reaction=stringify({"message_id": "wamid.OUT1"})),
        {
            "kind": MessageKind.REACTION,
            "text": None,
            "extra": {"emoji": "", "message_id": "wamid.OUT1"},
        },
        id="reaction-removed",
    ),
    pytest.param(
        with_fields(messageType="order", content=stringify({"catalog_id": "c1"})),
        {"kind": MessageKind.UNKNOWN, "text": None},
        id="unknown-type-order",
    ),
    pytest.param(
        with_fields(contentType="referral", messageType="text", text="Hi from the ad"),
        {"kind": MessageKind.TEXT, "text": "Hi from the ad"},
        id="referral-contenttype-prefers-messagetype",
    ),
    pytest.param(
        with_fields(
            messageType="text",
            messages=stringify(
                [{"type": "text", "text": {"body": "relayed body"}, "context": {"id": "wamid.Q"}}]
            ),
        ),
        {"kind": MessageKind.TEXT, "text": "relayed body", "extra": {"reply_to": "wamid.Q"}},
        id="text-from-relayed-messages",
    ),
    pytest.param(
        with_fields(messageType="text", content="from content"),
        {"kind": MessageKind.TEXT, "text": "from content"},
        id="text-from-content",
    ),
    pytest.param(
        with_fields(messageType="text", button="Yes please"),
        {"kind": MessageKind.TEXT, "text": "Yes please"},
        id="text-from-button",
    ),
    pytest.param(
        with_fields(messageType="text", caption="only a caption"),
        {"kind": MessageKind.TEXT, "text": "only a caption"},
        id="text-from-caption",
    ),
    pytest.param(
        with_fields(text="no type given"),
        {"kind": MessageKind.TEXT, "text": "no type given"},
        id="text-without-type-fields",
    ),
    pytest.param(
        with_fields(messageType="text", text="null", content="undefined", caption=""),
        {"kind": MessageKind.TEXT, "text": None},
        id="missing-markers-everywhere",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", customerNumber="+91 98765 43210"),
        {"customer_id": "919876543210", "phone": "919876543210"},
        id="phone-sanitised",
    ),
    pytest.param(
        with_fields(
            messageType="text", text="hi", customerNumber="{{customerNumber}}", bsuid="US.1349"
        ),
        {"customer_id": "US.1349", "phone": None, "bsuid": "US.1349"},
        id="bsuid-without-phone",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", bsuid="IN.1648738043044942"),
        {"customer_id": "IN.1648738043044942", "phone": t.CUSTOMER, "bsuid": "IN.1648738043044942"},
        id="bsuid-wins-over-phone",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", bsuid="not a bsuid"),
        {"customer_id": t.CUSTOMER, "bsuid": None},
        id="malformed-bsuid-ignored",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", uuid="{{uuid}}", requestId="req-77"),
        {"message_id": "req-77", "extra": {"request_id": "req-77"}},
        id="message-id-falls-back-to-request-id",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", ts="1779527612000"),
        {"sent_at": ISO_TS},
        id="ts-epoch-milliseconds",
    ),
    pytest.param(
        with_fields(messageType="text", text="hi", ts="garbage"),
        {"sent_at": None},
        id="ts-garbage-ignored",
    ),
    pytest.param(
        with_fields(
            messageType="text",
            text="hi",
            conversationExpTimestamp="1779614012",
            replyMsgId="wamid.PREV",
        ),
        {"extra": {"conversation_expires_at": 1779614012.0, "reply_to": "wamid.PREV"}},
        id="window-expiry-and-reply-context",
    ),
]


@pytest.mark.parametrize(("body", "expected"), MESSAGE_CASES)
def test_msg91_message(body: dict[str, Any], expected: dict[str, Any]) -> None:
    msg = message(body)
    assert msg.tenant_id == t.TENANT
    assert msg.received_at == RECEIVED
    for name, want in expected.items():
        got = getattr(msg, name)
        if name == "extra":
            assert {k: got.get(k) for k in want} == want, got
        elif name == "sent_at" and want is not None:
            assert got == pytest.approx(want)
        else:
            assert got == want, name
    # Every message must survive the queue's JSON round trip.
    assert InboundMessage.from_json(msg.to_json()) == msg


def test_unknown_type_keeps_payload() -> None:
    body = with_fields(messageType="order", content=stringify({"catalog_id": "c1"}))
    msg = message(body)
    assert msg.kind is MessageKind.UNKNOWN
    assert msg.extra["type"] == "order"
    payload = msg.extra["payload"]
    assert payload["content"] == {"catalog_id": "c1"}  # stringified JSON decoded
    assert "text" not in payload  # placeholders dropped


def test_known_type_with_unusable_detail_becomes_unknown() -> None:
    msg = message(with_fields(messageType="location", latitude="north", longitude="77"))
    assert msg.kind is MessageKind.UNKNOWN
    assert msg.extra["type"] == "location"
    assert msg.extra["payload"]["latitude"] == "north"


def test_message_id_falls_back_to_body_hash() -> None:
    body = with_fields(messageType="text", text="hi", uuid="", requestId="null")
    raw = t.encode(body)
    parsed = parse_payload(raw, tenant_id=t.TENANT, received_at=RECEIVED)
    value = parsed.items[0].value
    assert value.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()  # type: ignore[union-attr]


def test_business_number_is_reported_as_digits() -> None:
    body = with_fields(messageType="text", text="hi", integratedNumber="+91 91234 56789")
    parsed = parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert parsed.items[0].business_number == t.NUMBER
    missing = with_fields(messageType="text", text="hi", integratedNumber="{{integratedNumber}}")
    parsed = parse_payload(t.encode(missing), tenant_id=t.TENANT, received_at=RECEIVED)
    assert parsed.items[0].business_number is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"customerNumber": "{{customerNumber}}"}, "missing_sender"),
        ({"customerNumber": ""}, "missing_sender"),
        ({"customerNumber": "not-a-number"}, "invalid_field"),
        ({"customerNumber": "123"}, "invalid_field"),
        ({"customerNumber": "null", "bsuid": "bad bsuid"}, "invalid_field"),
    ],
)
def test_msg91_message_errors(fields: dict[str, Any], reason: str) -> None:
    body = with_fields(messageType="text", text="hi", **fields)
    with pytest.raises(ParseError) as caught:
        parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert caught.value.reason == reason
    assert not caught.value.malformed
    assert "9198" not in caught.value.message


REPORT_CASES = [
    pytest.param(
        t.msg91_status("delivered"),
        {
            "state": DeliveryState.DELIVERED,
            "provider_message_id": "3664f00d01",
            "customer_id": t.CUSTOMER,
            "occurred_at": ISO_TS + 89,
            "error_code": None,
            "error_reason": None,
        },
        id="delivered",
    ),
    pytest.param(
        t.msg91_status("Read"),
        {"state": DeliveryState.READ},
        id="capitalised-read",
    ),
    pytest.param(
        t.msg91_status("Submitted"),
        {"state": DeliveryState.QUEUED},
        id="submitted-is-queued",
    ),
    pytest.param(
        t.msg91_status("sent", requestId="{{requestId}}"),
        {"state": DeliveryState.SENT, "provider_message_id": t.msg91_status()["uuid"]},
        id="falls-back-to-uuid",
    ),
    pytest.param(
        t.msg91_status(
            "failed", failureReason="Parameter name is missing or empty", statusCode="132000"
        ),
        {
            "state": DeliveryState.FAILED,
            "error_code": "132000",
            "error_reason": "Parameter name is missing or empty",
        },
        id="failed-with-reason",
    ),
    pytest.param(
        # No direction; a known status word and no message content -> a report.
        {
            "requestId": "r-1",
            "integratedNumber": t.NUMBER,
            "customerNumber": t.CUSTOMER,
            "status": "read",
            "direction": "{{direction}}",
            "text": "{{text}}",
        },
        {"state": DeliveryState.READ, "provider_message_id": "r-1"},
        id="report-without-direction",
    ),
    pytest.param(
        t.msg91_status("delivered", status="{{status}}", eventName="delivered"),
        {"state": DeliveryState.DELIVERED},
        id="state-from-event-name",
    ),
    pytest.param(
        t.msg91_status("delivered", customerNumber="", bsuid="US.777"),
        {"customer_id": "US.777"},
        id="bsuid-recipient",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REPORT_CASES)
def test_msg91_report(body: dict[str, Any], expected: dict[str, Any]) -> None:
    report = parse_one(body)
    assert isinstance(report, DeliveryReport)
    assert report.tenant_id == t.TENANT and report.received_at == RECEIVED
    for name, want in expected.items():
        got = getattr(report, name)
        assert got == (pytest.approx(want) if name == "occurred_at" else want), name
    assert report.extra["provider"] == "msg91"
    assert DeliveryReport.from_json(report.to_json()) == report


def test_report_keeps_both_ids_for_correlation() -> None:
    report = parse_one(t.msg91_status("delivered"))
    assert isinstance(report, DeliveryReport)
    assert report.extra["request_id"] == "3664f00d01"
    assert report.extra["uuid"] == t.msg91_status()["uuid"]
    assert report.extra["template_name"] == "order_update"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (t.msg91_status("bounced"), "unknown_delivery_state"),
        (t.msg91_status("delivered", requestId="", uuid="{{uuid}}"), "missing_message_id"),
        ({"direction": "outbound", "requestId": "r1"}, "unknown_delivery_state"),
    ],
)
def test_msg91_report_errors(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_payload(t.encode(body), tenant_id=t.TENANT, received_at=RECEIVED)
    assert caught.value.reason == reason


@pytest.mark.parametrize("body", [b"[]", b"1", b'"text"', b"null"])
def test_non_object_bodies(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_payload(body, tenant_id=t.TENANT, received_at=RECEIVED)
    assert caught.value.reason == "not_an_object"
