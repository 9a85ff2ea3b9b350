"""Request ids end to end: a webhook request's ``X-Request-ID`` travels with its message through
Redis into the turn, where the worker's log records carry it (field ``request_id``) and the
OpenRouter and MSG91 simulators receive it as ``X-Request-ID``. Real webhook app, queue, worker
and engine; both simulators over HTTP."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any

import httpx
import pytest

from supportbot.engine.testing import CUSTOMER, NUMBER, WEBHOOK_SECRET
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.messages import WIRE_FIELDS, InboundMessage, MessageKind
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH

RID = "req-e2e-7f3a:turn.1"


async def test_request_id_reaches_the_turns_logs_llm_and_msg91(
    make_settings: Any,
    msg91: SimulatorClient,
    llm_sim: LLMSim,
    run_bot: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(coalesce_window_seconds=0.05, coalesce_max_wait_seconds=0.2)
    async with run_bot(settings) as bot_url:
        await msg91.route(NUMBER, bot_url=bot_url, secret=WEBHOOK_SECRET)
        # Earlier turns, posted by the simulator without an id: the webhook makes one each.
        await msg91.send_inbound(CUSTOMER, "Hello", name="Asha")
        await msg91.wait_for_messages(2, to=CUSTOMER, wait=30)
        await msg91.send_inbound(CUSTOMER, "Ask a question", type="button_reply", reply_id="ask")
        await msg91.wait_for_messages(3, to=CUSTOMER, wait=30)

        text = t.msg91_text(
            "Where is my order?",
            uuid=f"wamid.rid.{uuid.uuid4().hex}",
            customer=CUSTOMER,
            number=NUMBER,
        )
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{bot_url}{INBOUND_PATH}",
                content=t.encode(text),
                headers=t.headers(WEBHOOK_SECRET) | {"X-Request-ID": RID},
            )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] == RID
        sends = await msg91.wait_for_messages(4, to=CUSTOMER, wait=30)

    llm_calls = await llm_sim.requests()
    assert llm_calls and {c["x_request_id"] for c in llm_calls} == {RID}, llm_calls
    records = await msg91.messages(to=CUSTOMER)
    ours = [r for r in records if r["x_request_id"] == RID]
    assert ours and len(ours) == len(records) - 3, records
    earlier = {r["x_request_id"] for r in records[:3]}
    assert None not in earlier and RID not in earlier, "earlier turns carry their own ids"
    assert len(sends) >= 4

    attempts = [r for r in caplog.records if r.getMessage() == "msg91 send attempt"]
    turn_ids = {
        getattr(r, "turn_id", None) for r in attempts if getattr(r, "request_id", None) == RID
    }
    assert len(turn_ids) == 1, [vars(r) for r in attempts]
    of_turn = [r for r in caplog.records if getattr(r, "turn_id", None) in turn_ids]
    assert of_turn and all(getattr(r, "request_id", None) == RID for r in of_turn)


def test_old_inbox_entries_without_a_request_id_still_decode() -> None:
    """Entries queued before request ids existed (no field) and by a newer writer (unknown
    fields) both decode; the turn then has no id and nothing is bound."""
    old = (
        '{"tenant_id":"acme","customer_id":"919876543210","message_id":"wamid.1","kind":"text",'
        '"received_at":1.0,"text":"hi"}'
    )
    message = InboundMessage.from_json(old)
    assert message.request_id is None and message.kind is MessageKind.TEXT
    newer = old[:-1] + ',"request_id":"r-1","some_future_field":3}'
    assert InboundMessage.from_json(newer).request_id == "r-1"


# The inbox-entry fields the release before request ids decodes with ``InboundMessage(**raw)``:
# a key outside this list made its workers quarantine the entry as poison.
_PREVIOUS_RELEASE_FIELDS = {
    "tenant_id", "customer_id", "message_id", "kind", "received_at", "phone", "bsuid", "text",
    "reply_id", "media_url", "media_mime", "customer_name", "sent_at", "extra", "throttled",
    "throttle_notice",
}  # fmt: skip


def _previous_release_decode(data: str) -> dict[str, object]:
    raw = json.loads(data)
    unknown = set(raw) - _PREVIOUS_RELEASE_FIELDS
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}")
    return dict(raw)


def test_entries_with_a_request_id_decode_in_the_previous_release_and_back() -> None:
    """A rolling upgrade (new webhooks, old workers) or a rollback (entries queued by new pods,
    old workers) must not quarantine messages: the id rides in ``extra`` on the wire."""
    message = InboundMessage(
        tenant_id="acme",
        customer_id="919876543210",
        message_id="wamid.2",
        kind=MessageKind.TEXT,
        received_at=2.0,
        text="hi",
        extra={"requestId": "msg91-7"},
        request_id="r-2",
    )
    wire = message.to_json()
    assert _previous_release_decode(wire)["text"] == "hi"
    assert json.loads(wire).keys() == set(WIRE_FIELDS)
    back = InboundMessage.from_json(wire)
    assert back == message and back.extra == {"requestId": "msg91-7"}
    plain = dataclasses.replace(message, request_id=None)
    assert "supportbot" not in plain.to_json()
    assert InboundMessage.from_json(plain.to_json()) == plain
