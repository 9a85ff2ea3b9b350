"""The Meta simulator on its own: Graph-style validation errors, the 24 h window, signed webhook
emission (checked with `verify_signature` and parsed by the webhook's own parser), the GET
handshake check, and the read-receipt / typing-indicator record."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from supportbot.messages import DeliveryState, MessageKind, OutboundKind, OutboundMessage
from supportbot.meta.client import MetaClient
from supportbot.meta.errors import AttemptOutcome, DefinitiveSendError
from supportbot.meta.payloads import TemplateMessage
from supportbot.meta.signature import SIGNATURE_HEADER, verify_signature
from supportbot.meta.simulator.driver import MetaSimulatorClient
from supportbot.meta.simulator.process import RunningSimulator
from supportbot.meta.simulator.sink import Sink
from supportbot.webhook.parsing import parse_payload

PHONE_NUMBER_ID, DISPLAY, TOKEN = "106540352242922", "15550783881", "test-token-1"
APP_SECRET, CUSTOMER, STRANGER = "test-app-secret", "16505551234", "16505559999"
PATH = f"/v21.0/{PHONE_NUMBER_ID}/messages"
TEXT = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}}


def _buttons(n: int, title: str = "t") -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "b"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": f"{title}{i}"}}
                for i in range(n)
            ]
        },
    }


def _interactive(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "interactive",
        "interactive": obj,
    }


LIST_11 = {
    "type": "list",
    "body": {"text": "b"},
    "action": {
        "button": "Pick",
        "sections": [{"title": "s", "rows": [{"id": f"r{i}", "title": "r"} for i in range(11)]}],
    },
}

INVALID: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown type", {**TEXT, "type": "carousel", "carousel": {}}, 131051, "not supported"),
    ("no product", {k: v for k, v in TEXT.items() if k != "messaging_product"}, 100, "product"),
    ("no to", {k: v for k, v in TEXT.items() if k != "to"}, 100, "to is required"),
    ("bad to", {**TEXT, "to": "abc"}, 100, "not a valid id"),
    ("no text body", {**TEXT, "text": {}}, 100, "text.body is required"),
    ("long text", {**TEXT, "text": {"body": "x" * 4097}}, 100, "longer than 4096"),
    ("4 buttons", _interactive(_buttons(4)), 100, "at most 3 buttons"),
    ("long title", _interactive(_buttons(1, "x" * 20)), 100, "button title is longer than 20"),
    ("11 rows", _interactive(LIST_11), 100, "at most 10 rows"),
    (
        "header media id",
        _interactive({**_buttons(1), "header": {"type": "image", "image": {"id": "1"}}}),
        100,
        "must be a link",
    ),
    (
        "link and id",
        {**TEXT, "type": "image", "image": {"link": "https://x", "id": "1"}},
        100,
        "exactly one of link or id",
    ),
    (
        "audio caption",
        {**TEXT, "type": "audio", "audio": {"id": "1", "caption": "c"}},
        100,
        "takes no caption",
    ),
    (
        "template without language",
        {**TEXT, "type": "template", "template": {"name": "t"}},
        100,
        "template.language",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "details"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_invalid_bodies_get_graph_errors(
    meta_server: RunningSimulator,
    sim: MetaSimulatorClient,
    body: dict[str, Any],
    code: int,
    details: str,
) -> None:
    async with httpx.AsyncClient(base_url=meta_server.url) as http:
        response = await http.post(PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert error["message"].startswith(f"(#{code})")
    assert details in error["error_data"]["details"]
    assert error["fbtrace_id"]
    [record] = await sim.messages(outcome="rejected")
    assert record["body"] == body and record["error_code"] == code
    assert await sim.accepted() == []


async def test_missing_bearer_token_is_190(
    meta_server: RunningSimulator, sim: MetaSimulatorClient
) -> None:
    async with httpx.AsyncClient(base_url=meta_server.url) as http:
        response = await http.post(PATH, json=TEXT)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    [record] = await sim.messages(outcome="unauthorized")
    assert record["auth"] == "missing"


async def test_inbound_is_signed_and_parses_with_the_webhook_parser(
    sim: MetaSimulatorClient, sink: Sink
) -> None:
    await sim.configure(webhook_url=sink.url)
    sent = await sim.send_inbound(CUSTOMER, "Olá, é urgente 🙏", name="Sheena")
    [received] = await sink.wait_for(1)
    assert received.signature_ok
    assert received.headers[SIGNATURE_HEADER.lower()] == sent["signature"]
    assert verify_signature(APP_SECRET, received.raw, sent["signature"])
    [emitted] = await sim.webhooks(kind="inbound")
    assert emitted["raw"].encode() == received.raw and emitted["http_status"] == 200
    body = received.body
    assert body["object"] == "whatsapp_business_account"
    value = body["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == {
        "display_phone_number": DISPLAY,
        "phone_number_id": PHONE_NUMBER_ID,
    }
    assert value["contacts"] == [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}]
    parsed = parse_payload(received.raw, tenant_id="t1", received_at=time.time())
    [message] = parsed.messages
    assert parsed.family == "meta"
    assert (message.message_id, message.phone, message.kind) == (
        sent["message_id"],
        CUSTOMER,
        MessageKind.TEXT,
    )
    assert message.text == "Olá, é urgente 🙏" and message.customer_name == "Sheena"


async def test_interactive_reply_parses(sim: MetaSimulatorClient, sink: Sink) -> None:
    await sim.configure(webhook_url=sink.url)
    await sim.send_inbound(CUSTOMER, "My orders", type="button_reply", reply_id="orders")
    [received] = await sink.wait_for(1)
    [message] = parse_payload(received.raw, tenant_id="t1", received_at=time.time()).messages
    assert (message.kind, message.reply_id, message.text) == (
        MessageKind.INTERACTIVE,
        "orders",
        "My orders",
    )


async def test_wrong_or_missing_signature_is_refused_by_the_bot(
    sim: MetaSimulatorClient, sink: Sink
) -> None:
    await sim.configure(webhook_url=sink.url)
    wrong = await sim.send_inbound(CUSTOMER, "hi", signature="wrong")
    none = await sim.send_inbound(CUSTOMER, "hi", signature="none")
    assert wrong["deliveries"][0]["http_status"] == 401
    assert none["deliveries"][0]["http_status"] == 401 and none["signature"] is None
    assert [r.signature_ok for r in await sink.wait_for(2)] == [False, False]


async def test_statuses_are_signed_and_parse_as_reports(
    client: MetaClient, sim: MetaSimulatorClient, sink: Sink
) -> None:
    await sim.configure(webhook_url=sink.url, status_final="read")
    result = await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"))
    await sim.wait_for_webhooks(3, kind="status", message_id=result.wamid)
    received = await sink.wait_for(3)
    assert all(r.signature_ok for r in received)
    reports = [
        parse_payload(r.raw, tenant_id="t1", received_at=time.time()).reports[0] for r in received
    ]
    assert [r.state for r in reports] == [
        DeliveryState.SENT,
        DeliveryState.DELIVERED,
        DeliveryState.READ,
    ]
    assert {r.provider_message_id for r in reports} == {result.wamid}
    assert reports[0].customer_id == CUSTOMER
    assert "pricing" in reports[0].extra


async def test_window_closed_fails_by_status_and_templates_pass(
    client: MetaClient, sim: MetaSimulatorClient, sink: Sink
) -> None:
    await sim.configure(webhook_url=sink.url, status_final="sent")
    free = await client.send(STRANGER, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"))
    template = await client.send_template(STRANGER, TemplateMessage("order_update", "en", ("A",)))
    [failed] = await sim.wait_for_webhooks(1, kind="status", message_id=free.wamid)
    [sent] = await sim.wait_for_webhooks(1, kind="status", message_id=template.wamid)
    assert (failed["status"], sent["status"]) == ("failed", "sent")
    [report] = parse_payload(failed["raw"].encode(), tenant_id="t", received_at=0.0).reports
    assert report.state is DeliveryState.FAILED and report.error_code == "131047"
    assert report.error_reason is not None and "24 hours" in report.error_reason
    assert verify_signature(APP_SECRET, failed["raw"].encode(), failed["signature"])


async def test_window_sync_mode_refuses_at_once_and_inbound_reopens(
    client: MetaClient, sim: MetaSimulatorClient
) -> None:
    await sim.configure(window="sync")
    message = OutboundMessage(kind=OutboundKind.TEXT, text="Hi")
    with pytest.raises(DefinitiveSendError) as err:
        await client.send(STRANGER, message)
    assert err.value.outcome is AttemptOutcome.WINDOW_CLOSED and err.value.needs_template
    await client.send_template(STRANGER, TemplateMessage("order_update"))
    await sim.send_inbound(STRANGER, "hello")  # no webhook URL: emitted, not delivered
    await client.send(STRANGER, message)
    await sim.set_last_inbound(STRANGER, time.time() - 24 * 3600 - 1)
    with pytest.raises(DefinitiveSendError):
        await client.send(STRANGER, message)
    assert [r["kind"] for r in await sim.accepted(STRANGER)] == ["template", "text"]


async def test_handshake_check_against_the_bot(sim: MetaSimulatorClient, sink: Sink) -> None:
    await sim.configure(webhook_url=sink.url)
    ok = await sim.verify_webhook(challenge="1158201444")
    assert ok == {"ok": True, "status": 200, "body": "1158201444", "error": None}
    assert sink.handshakes[0] == {
        "hub.mode": "subscribe",
        "hub.verify_token": "test-verify-token",
        "hub.challenge": "1158201444",
    }
    wrong = await sim.verify_webhook(verify_token="not-it")
    assert (wrong["ok"], wrong["status"]) == (False, 403)


async def test_typing_before_the_reply_and_none_without_reply(
    client: MetaClient, sim: MetaSimulatorClient
) -> None:
    first = (await sim.send_inbound(CUSTOMER, "Where is my order?"))["message_id"]
    await client.mark_read(first)
    reply = await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="On its way"))
    [receipt] = await sim.receipts(CUSTOMER, typing=True)
    assert receipt["reply_message_id"] == reply.wamid
    assert receipt["reply_seq"] > receipt["seq"]
    assert receipt["reply_within_indicator"] is True

    second = (await sim.send_inbound(CUSTOMER, "ok thanks"))["message_id"]
    await client.mark_read(second, typing=False)  # read, but no reply will follow: no typing
    receipts = await sim.receipts(CUSTOMER)
    assert [(r["typing"], r["reply_message_id"]) for r in receipts] == [
        (True, reply.wamid),
        (False, None),
    ]
    stats = await sim.stats()
    assert (stats["receipts"], stats["typing_indicators"]) == (2, 1)


async def test_bsuid_customers_inbound_send_and_status(
    client: MetaClient, sim: MetaSimulatorClient, sink: Sink
) -> None:
    bsuid = "US.13491208655302741918"
    await sim.configure(webhook_url=sink.url, status_final="sent")
    await sim.send_inbound(None, "hi", bsuid=bsuid)
    [inbound] = await sink.wait_for(1)
    [message] = parse_payload(inbound.raw, tenant_id="t1", received_at=time.time()).messages
    assert (message.bsuid, message.phone, message.customer_id) == (bsuid, None, bsuid)
    result = await client.send(bsuid, OutboundMessage(kind=OutboundKind.TEXT, text="Hello"))
    assert result.wa_id is None
    [status] = await sim.wait_for_webhooks(1, kind="status", message_id=result.wamid)
    [report] = parse_payload(status["raw"].encode(), tenant_id="t1", received_at=0.0).reports
    assert (report.state, report.customer_id) == (DeliveryState.SENT, bsuid)
