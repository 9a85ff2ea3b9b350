"""What the simulator POSTs to a bot: inbound messages and delivery reports, MSG91 flat shape and
Meta envelope, with the tenant's secret header, duplicates and out-of-order statuses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.msg91.simulator.sink import Sink

NUMBER, CUSTOMER, AUTH_KEY = "919000000001", "919876543210", "test-authkey-1"
SECRET = "s3cret-webhook"
SESSION = "/api/v5/whatsapp/whatsapp-outbound-message/"
BULK = "/api/v5/whatsapp/whatsapp-outbound-message/bulk/"
TEXT = {
    "integrated_number": NUMBER,
    "recipient_number": CUSTOMER,
    "content_type": "text",
    "text": "Hi",
}


def _template(name: str, params: int) -> dict[str, Any]:
    components = {f"body_{i}": {"type": "text", "value": f"p{i}"} for i in range(1, params + 1)}
    return {
        "integrated_number": NUMBER,
        "content_type": "template",
        "payload": {
            "messaging_product": "whatsapp",
            "type": "template",
            "template": {
                "name": name,
                "language": {"code": "en"},
                "to_and_components": [{"to": [CUSTOMER], "components": components}],
            },
        },
    }


@pytest.fixture
async def routed(sim: SimulatorClient, sink: Sink) -> SimulatorClient:
    await sim.route(NUMBER, bot_url=sink.url, secret=SECRET)
    return sim


async def _send(sim_server: RunningSimulator, body: dict[str, Any], path: str = SESSION) -> str:
    async with httpx.AsyncClient(base_url=sim_server.url, headers={"authkey": AUTH_KEY}) as c:
        response = await c.post(path, json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return str(data[0]["message_uuid"] if isinstance(data, list) else data["message_uuid"])


async def test_flat_text_inbound_as_msg91_posts_it(routed: SimulatorClient, sink: Sink) -> None:
    result = await routed.send_inbound(CUSTOMER, "Hello", name="Asha", ts=1779527612.0)
    [got] = sink.inbound
    assert got.headers["x-webhook-secret"] == SECRET
    assert got.headers["content-type"] == "application/json"
    body = got.body
    assert body == result["payload"]
    assert all(isinstance(v, str) for v in body.values())
    assert body["customerNumber"] == CUSTOMER and body["integratedNumber"] == NUMBER
    assert body["customerName"] == "Asha" and body["text"] == "Hello"
    assert body["uuid"] == result["message_id"] and body["uuid"].startswith("wamid.")
    assert body["contentType"] == body["messageType"] == "text"
    assert body["direction"] == "inbound"
    assert body["ts"] == "2026-05-23T14:43:32+05:30"
    assert body["interactive"] == "{{interactive}}"  # unfilled placeholder, as MSG91 sends it
    assert body["button"] == "{{button}}" and body["bsuid"] == "{{bsuid}}"
    messages = json.loads(body["messages"])  # stringified JSON array
    assert messages[0]["text"] == {"body": "Hello"} and messages[0]["from"] == CUSTOMER
    assert result["deliveries"] == [{"http_status": 200, "error": None, "attempts": 1}]


async def test_button_reply_is_stringified_interactive(routed: SimulatorClient, sink: Sink) -> None:
    await routed.send_inbound(
        CUSTOMER, "Yes", type="button_reply", reply_id="opt_yes", ts_format="epoch"
    )
    body = sink.inbound[0].body
    assert body["contentType"] == "interactive"
    assert json.loads(body["interactive"]) == {
        "type": "button_reply",
        "button_reply": {"id": "opt_yes", "title": "Yes"},
    }
    assert body["text"] == "{{text}}"
    assert body["ts"].isdigit() and len(body["ts"]) == 10


async def test_list_reply_template_button_media_location(
    routed: SimulatorClient, sink: Sink
) -> None:
    await routed.configure(placeholders=False, ts_format="epoch_ms")
    await routed.send_inbound(
        CUSTOMER, "Billing", type="list_reply", reply_id="b1", description="Invoices"
    )
    await routed.send_inbound(CUSTOMER, "Stop", type="button", reply_id="STOP_PAYLOAD")
    await routed.send_inbound(
        CUSTOMER,
        "my invoice",
        type="document",
        url="https://files.example/inv.pdf",
        filename="inv.pdf",
    )
    await routed.send_inbound(CUSTOMER, type="location", latitude=12.97, longitude=77.59)
    lst, btn, doc, loc = (r.body for r in sink.inbound)
    assert json.loads(lst["interactive"])["list_reply"] == {
        "id": "b1",
        "title": "Billing",
        "description": "Invoices",
    }
    assert lst["text"] == "" and len(lst["ts"]) == 13
    assert json.loads(btn["button"]) == {"text": "Stop", "payload": "STOP_PAYLOAD"}
    assert btn["contentType"] == "button"
    assert (doc["contentType"], doc["url"], doc["caption"], doc["filename"]) == (
        "document",
        "https://files.example/inv.pdf",
        "my invoice",
        "inv.pdf",
    )
    assert (loc["latitude"], loc["longitude"]) == ("12.97", "77.59")


async def test_meta_envelope_inbound(routed: SimulatorClient, sink: Sink) -> None:
    await routed.send_inbound(CUSTOMER, "Hi", name="Sheena", format="meta", ts=1749416383.0)
    body = sink.inbound[0].body
    assert body["object"] == "whatsapp_business_account"
    value = body["entry"][0]["changes"][0]["value"]
    assert body["entry"][0]["changes"][0]["field"] == "messages"
    assert value["metadata"]["display_phone_number"] == NUMBER
    assert value["contacts"] == [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}]
    [msg] = value["messages"]
    assert msg["from"] == CUSTOMER and msg["timestamp"] == "1749416383"
    assert msg["type"] == "text" and msg["text"] == {"body": "Hi"}


async def test_bsuid_only_customer(routed: SimulatorClient, sink: Sink) -> None:
    bsuid = "US.13491208655302741918"
    await routed.send_inbound(None, "Hi", bsuid=bsuid)
    await routed.send_inbound(None, "Hi", bsuid=bsuid, format="meta")
    flat, meta = (r.body for r in sink.inbound)
    assert flat["bsuid"] == bsuid and flat["customerNumber"] == "{{customerNumber}}"
    value = meta["entry"][0]["changes"][0]["value"]
    assert value["contacts"][0]["user_id"] == bsuid and "wa_id" not in value["contacts"][0]
    assert "from" not in value["messages"][0]


async def test_duplicates_are_identical(routed: SimulatorClient, sink: Sink) -> None:
    result = await routed.send_inbound(CUSTOMER, "Hi", duplicates=3)
    assert len(result["deliveries"]) == 4
    assert len({r.raw for r in sink.inbound}) == 1


async def test_inbound_needs_a_sender(routed: SimulatorClient) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        await routed.send_inbound(None, "Hi")


async def test_bot_errors_are_retried_and_recorded(routed: SimulatorClient, sink: Sink) -> None:
    sink.status_code = 503
    result = await routed.send_inbound(CUSTOMER, "Hi")
    assert result["deliveries"][0] == {"http_status": 503, "error": None, "attempts": 3}
    sink.status_code = 401
    result = await routed.send_inbound(CUSTOMER, "Hi")
    assert result["deliveries"][0]["attempts"] == 1  # 4xx is not retried
    assert (await routed.stats())["webhook_failures"] == 2


async def test_delivery_reports_in_order(
    routed: SimulatorClient, sink: Sink, sim_server: RunningSimulator
) -> None:
    await routed.configure(dlr_final="read")
    wamid = await _send(sim_server, TEXT)
    await sink.wait_for(3)
    reports = [r.body for r in sink.statuses]
    assert [r["status"] for r in reports] == ["sent", "delivered", "read"]
    first = reports[0]
    assert first["uuid"] == wamid and first["customerNumber"] == CUSTOMER
    assert first["direction"] == "outbound" and first["integratedNumber"] == NUMBER
    assert first["requestId"] == (await routed.message(wamid))["request_id"]
    assert sink.statuses[0].headers["x-webhook-secret"] == SECRET


async def test_delivery_reports_reversed_and_duplicated(
    routed: SimulatorClient, sink: Sink, sim_server: RunningSimulator
) -> None:
    await routed.configure(dlr_final="read", dlr_order="reverse", dlr_duplicates=1)
    wamid = await _send(sim_server, TEXT)
    await sink.wait_for(6)
    assert [r.body["status"] for r in sink.statuses] == [
        "read",
        "read",
        "delivered",
        "delivered",
        "sent",
        "sent",
    ]
    assert (await routed.message(wamid))["statuses"] == ["read"] * 2 + ["delivered"] * 2 + [
        "sent"
    ] * 2


async def test_meta_status_envelope_and_explicit_report(
    routed: SimulatorClient, sink: Sink, sim_server: RunningSimulator
) -> None:
    wamid = await _send(sim_server, TEXT)  # dlr_final is "none" for this server
    await routed.send_status(wamid, "sent", format="meta")
    await routed.send_status(wamid, "failed", error_code="131026", format="meta")
    sent, failed = (r.body for r in sink.statuses)
    status = sent["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert (status["id"], status["status"], status["recipient_id"]) == (wamid, "sent", CUSTOMER)
    assert status["pricing"]["category"] == "service"
    err = failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]
    assert err["code"] == 131026 and err["title"] == "Message undeliverable"


async def test_window_enforcement_fails_asynchronously(
    routed: SimulatorClient, sink: Sink, sim_server: RunningSimulator
) -> None:
    await routed.configure(dlr_final="read", enforce_window=True)
    wamid = await _send(sim_server, TEXT)  # accepted: send ≠ delivered
    await sink.wait_for(1, "/webhooks/msg91/status")
    [report] = [r.body for r in sink.statuses]
    assert (report["uuid"], report["status"], report["statusCode"]) == (wamid, "failed", "131047")
    assert report["reason"] == "Re-engagement message"
    await routed.send_inbound(CUSTOMER, "I'm back")  # opens the window
    await _send(sim_server, TEXT)
    await sink.wait_for(4, "/webhooks/msg91/status")
    assert [r.body["status"] for r in sink.statuses[1:]] == ["sent", "delivered", "read"]


async def test_unapproved_template_and_wrong_param_count_fail_later(
    routed: SimulatorClient, sink: Sink, sim_server: RunningSimulator
) -> None:
    await routed.configure(dlr_final="sent", templates={"order_update:en": 2})
    await _send(sim_server, _template("order_update", 2), BULK)
    await _send(sim_server, _template("nope", 2), BULK)
    await _send(sim_server, _template("order_update", 1), BULK)
    await sink.wait_for(3)
    by_status = sorted((r.body["status"], r.body["statusCode"]) for r in sink.statuses)
    assert by_status == [("failed", "132000"), ("failed", "132001"), ("sent", "")]
    assert {r.body["templateName"] for r in sink.statuses} == {"order_update", "nope"}
