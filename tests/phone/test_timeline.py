"""Pure parts of the phone page: simulator recordings -> bubbles, ticks and cursors; the agent
list order; tenant/customer specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.webhooks import flat_inbound, meta_inbound
from supportbot_dev.phone import timeline
from supportbot_dev.phone.config import (
    ConfigError,
    PhoneConfig,
    TenantConfig,
    is_loopback,
    parse_customer,
    parse_tenant,
)
from supportbot_dev.phone.timeline import Cursor, chat_update

NUMBER, CUSTOMER = "919000000001", "919876543210"


def record(
    seq: int, body: dict[str, Any], outcome: str = "accepted", **extra: Any
) -> dict[str, Any]:
    return {
        "seq": seq,
        "received_at": 1.0,
        "outcome": outcome,
        "integrated_number": NUMBER,
        "to": [CUSTOMER],
        "message_ids": [f"wamid.{seq}"],
        "response": {"data": {"message_uuid": f"wamid.{seq}"}},
        "body": body,
        **extra,
    }


def text(seq: int, value: str, **extra: Any) -> dict[str, Any]:
    body = {"integrated_number": NUMBER, "recipient_number": CUSTOMER, "content_type": "text"}
    return record(seq, body | {"text": value}, **extra)


def inbound(
    seq: int, spec: InboundSpec, http_status: int | None = 200, meta: bool = False
) -> dict[str, Any]:
    wamid = f"wamid.in.{seq}"
    payload = (
        meta_inbound(spec, NUMBER, wamid, 1.0)
        if meta
        else flat_inbound(spec, NUMBER, wamid, "req", 1.0, ts_format="iso", placeholders=True)
    )
    return {
        "seq": seq,
        "at": 1.0,
        "kind": "inbound",
        "integrated_number": NUMBER,
        "payload": payload,
        "message_id": wamid,
        "http_status": http_status,
        "error": None,
    }


def status(seq: int, message_id: str, state: str, customer: str = CUSTOMER) -> dict[str, Any]:
    payload = {
        "requestId": "r",
        "uuid": message_id,
        "customerNumber": customer,
        "integratedNumber": NUMBER,
        "direction": "outbound",
        "status": state,
        "eventName": state,
        "reason": "Re-engagement message" if state == "failed" else "",
    }
    return {
        "seq": seq,
        "at": 1.0,
        "kind": "status",
        "integrated_number": NUMBER,
        "payload": payload,
        "message_id": message_id,
        "status": state,
        "http_status": 200,
        "error": None,
    }


def update(
    records: list[dict[str, Any]], webhooks: list[dict[str, Any]], cursor: Cursor | None = None
) -> timeline.ChatUpdate:
    return chat_update(
        records, webhooks, cursor or Cursor(), tenant="acme", number=NUMBER, customer=CUSTOMER
    )


def test_bubbles_in_sequence_order_from_both_streams() -> None:
    hello = inbound(
        1, InboundSpec.model_validate({"from": CUSTOMER, "text": "Hello", "name": "Asha"})
    )
    tap = InboundSpec.model_validate(
        {"from": CUSTOMER, "type": "button_reply", "reply_id": "hours", "text": "Opening hours"}
    )
    result = update([text(2, "Hi Asha!")], [inbound(3, tap, meta=True), hello])
    assert [(i["side"], i["kind"], i["text"]) for i in result.items] == [
        ("customer", "text", "Hello"),
        ("bot", "text", "Hi Asha!"),
        ("customer", "reply", "Opening hours"),
    ]
    assert result.items[0]["name"] == "Asha" and result.items[2]["reply_id"] == "hours"
    assert result.cursor == Cursor(2, 3)


def test_other_customers_numbers_and_unaccepted_sends_are_left_out() -> None:
    other = InboundSpec.model_validate({"from": "919812345678", "text": "Not me"})
    records = [
        text(1, "rejected", outcome="rejected"),
        text(2, "other number", integrated_number="919000000002"),
        text(3, "other customer", to=["919812345678"]),
        text(4, "mine"),
    ]
    result = update(records, [inbound(5, other)])
    assert [i["text"] for i in result.items] == ["mine"]
    assert result.cursor == Cursor(4, 5)


def test_unsettled_entries_hold_their_streams_cursor() -> None:
    pending_send = text(3, "deciding", outcome="")
    posting = inbound(
        7, InboundSpec.model_validate({"from": CUSTOMER, "text": "Hi"}), http_status=None
    )
    result = update(
        [text(2, "a"), pending_send, text(4, "b")],
        [posting, status(8, "wamid.2", "sent")],
        Cursor(1, 6),
    )
    assert result.cursor == Cursor(2, 6), "held before the first unsettled entry of each stream"
    assert [i["text"] for i in result.items] == ["a", "b", "Hi"]
    assert result.items[2]["delivery"] == "pending"
    assert timeline.advance(5, [], []) == 5


def test_ticks_keep_the_best_state_and_failures_win() -> None:
    webhooks = [
        status(1, "wamid.a", "delivered"),
        status(2, "wamid.a", "sent"),
        status(3, "wamid.b", "read"),
        status(4, "wamid.b", "failed"),
        status(5, "wamid.c", "read", customer="919812345678"),
    ]
    result = update([], webhooks)
    assert result.ticks == {"wamid.a": "delivered", "wamid.b": "failed"}
    assert "Re-engagement" in result.errors["wamid.b"]


def test_outbound_content_forms() -> None:
    wrapper = {
        "content_type": "text",
        "payload": {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "text",
            "text": {"body": "Wrapped"},
        },
    }
    assert timeline.outbound_content(wrapper, CUSTOMER) == {"kind": "text", "text": "Wrapped"}
    bulk = {
        "content_type": "template",
        "payload": {
            "template": {
                "name": "order_update",
                "language": {"code": "en"},
                "to_and_components": [
                    {
                        "to": ["919812345678"],
                        "components": {"body_1": {"type": "text", "value": "X"}},
                    },
                    {
                        "to": [CUSTOMER],
                        "components": {
                            "body_10": {"type": "text", "value": "ten"},
                            "body_2": {"type": "text", "value": "two"},
                            "header_1": {"type": "text", "value": "h"},
                        },
                    },
                ],
            }
        },
    }
    assert timeline.outbound_content(bulk, CUSTOMER)["template"] == {
        "name": "order_update",
        "language": "en",
        "params": ["two", "ten"],
    }
    assert timeline.outbound_content({"content_type": "location"}, CUSTOMER)["kind"] == "unknown"
    bulk_record = record(9, bulk, message_ids=["wamid.x", "wamid.y"])
    bulk_record["response"] = {
        "data": [
            {"to": "919812345678", "message_uuid": "wamid.x"},
            {"to": CUSTOMER, "message_uuid": "wamid.y"},
        ]
    }
    assert timeline.bot_items([bulk_record], NUMBER, CUSTOMER)[0]["message_id"] == "wamid.y"


def test_media_bubbles_both_ways() -> None:
    image = {
        "integrated_number": NUMBER,
        "content_type": "image",
        "payload": {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "image",
            "image": {"link": "https://cdn.example.com/kettle.png", "caption": "Replacement"},
        },
    }
    assert timeline.outbound_content(image, CUSTOMER) == {
        "kind": "image",
        "text": "Replacement",
        "media": {"type": "image", "url": "https://cdn.example.com/kettle.png", "filename": None},
    }
    doc = {
        "content_type": "document",
        "payload": {
            "type": "document",
            "document": {"link": "https://x/m.pdf", "filename": "m.pdf"},
        },
    }
    assert timeline.outbound_content(doc, CUSTOMER)["media"]["filename"] == "m.pdf"
    header = {
        "content_type": "template",
        "payload": {
            "template": {
                "name": "shipped",
                "to_and_components": [
                    {
                        "to": [CUSTOMER],
                        "components": {"header_1": {"type": "image", "value": "https://x/b.png"}},
                    }
                ],
            }
        },
    }
    assert timeline.outbound_content(header, CUSTOMER)["template"]["header"] == {
        "type": "image",
        "url": "https://x/b.png",
    }
    photo = InboundSpec.model_validate(
        {"from": CUSTOMER, "type": "image", "url": "https://files.example/p.jpg", "text": "Broken"}
    )
    pdf = InboundSpec.model_validate(
        {"from": CUSTOMER, "type": "document", "url": "https://files.example/r.pdf",
         "filename": "receipt.pdf"}
    )  # fmt: skip
    items = update([], [inbound(1, photo), inbound(2, pdf, meta=True)]).items
    assert [(i["kind"], i["text"], i["media"]) for i in items] == [
        ("image", "Broken", {"type": "image", "url": "https://files.example/p.jpg",
                             "filename": None}),
        ("document", "", {"type": "document", "url": "https://files.example/r.pdf",
                          "filename": "receipt.pdf"}),
    ]  # fmt: skip


def test_agent_list_puts_handed_off_conversations_first() -> None:
    conversations = [
        {
            "customer_id": "bot-new",
            "handoff_state": "bot",
            "last_activity_at": "2026-01-01T10:05:00+00:00",
        },
        {
            "customer_id": "human-old",
            "handoff_state": "human",
            "last_activity_at": "2026-01-01T09:00:00+00:00",
        },
        {
            "customer_id": "pending",
            "handoff_state": "pending",
            "last_activity_at": "2026-01-01T09:30:00+00:00",
        },
        {
            "customer_id": "human-new",
            "handoff_state": "human",
            "last_activity_at": "2026-01-01T09:10:00+00:00",
        },
        {"customer_id": "bot-old", "handoff_state": "bot", "last_activity_at": "bad"},
    ]
    order = [c["customer_id"] for c in timeline.conversation_order(conversations)]
    assert order == ["human-new", "human-old", "pending", "bot-new", "bot-old"]
    messages: list[dict[str, Any]] = [
        {"author": "agent:alice", "provider_message_id": "wamid.1"},
        {"author": "bot", "provider_message_id": "wamid.2"},
        {"author": "agent:bob", "provider_message_id": None},
    ]
    assert timeline.authors(messages) == {"wamid.1": "alice"}


def test_tenant_and_customer_specs(tmp_path: Path) -> None:
    token_file = tmp_path / "acme.jwt"
    token_file.write_text("tok-from-file\n")
    spec = f"acme=+919123456789,webhook=http://127.0.0.1:8080/,token-file={token_file}"
    tenant = parse_tenant(spec)
    assert (tenant.name, tenant.number, tenant.token) == ("acme", "919123456789", "tok-from-file")
    assert tenant.agent_api == "http://127.0.0.1:8080/api/v1"
    assert "tok-from-file" not in repr(tenant)
    assert parse_tenant("globex=14155550100").agent_api is None
    assert parse_customer(" Asha =+91 98765 43210").phone == "919876543210"
    for bad in (
        "Acme=919123456789",
        "acme",
        "acme=12",
        "acme=919123456789,colour=red",
        "acme=919123456789,webhook=ftp://x",
    ):
        with pytest.raises(ConfigError):
            parse_tenant(bad)
    with pytest.raises(ConfigError):
        parse_customer("=919876543210")
    with pytest.raises(ConfigError):
        PhoneConfig("http://sim", ())
    with pytest.raises(ConfigError):
        PhoneConfig("http://sim", (TenantConfig("a", NUMBER), TenantConfig("a", NUMBER)))
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("0.0.0.0")  # noqa: S104
