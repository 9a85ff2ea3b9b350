"""End to end on the delivery side: Deliverer -> simulator (real HTTP) -> delivery reports POSTed
to a bot stand-in -> Redis stream sb:acme:dlr -> consumer -> monotonic states."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import DeliveryReport, DeliveryState, OutboundKind, OutboundMessage
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.errors import AttemptOutcome
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.sink import Sink
from supportbot.provider.attempts import DeliveryAttempt
from supportbot.provider.deliverer import Deliverer, Recipient
from supportbot.provider.dlr_consumer import DeliveryReportConsumer
from supportbot.provider.dlr_store import InMemoryDeliveryStateStore
from supportbot.provider.sending import Sender

NUMBER, CUSTOMER, OTHER = "919000000001", "919876543210", "919811122233"
S = DeliveryState


class StoreRecorder:
    """What the storage layer's recorder does on an accepted attempt: create the row (queued)."""

    def __init__(self, store: InMemoryDeliveryStateStore) -> None:
        self.store = store

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        if attempt.outcome is AttemptOutcome.ACCEPTED and attempt.provider_message_id:
            self.store.register(attempt.tenant_id, attempt.provider_message_id)


async def test_reports_out_of_order_and_duplicated_end_in_the_right_state(
    client: Msg91Client, sim: SimulatorClient, sink: Sink, aredis: aioredis.Redis
) -> None:
    async def to_stream(body: dict[str, Any]) -> None:  # a minimal status webhook
        report = DeliveryReport(
            tenant_id="acme",
            provider_message_id=body["uuid"],
            state=S(body["status"]),
            received_at=time.time(),
            error_code=body["statusCode"] or None,
            error_reason=body["reason"] or None,
        )
        await aredis.xadd(keyspace.dlr_stream_key("acme"), {"r": report.to_json()})

    sink.on_status = to_stream
    await sim.route(NUMBER, bot_url=sink.url, secret="s")
    await sim.configure(
        dlr_final="read", dlr_order="reverse", dlr_duplicates=1, enforce_window=True
    )
    await sim.set_last_inbound(CUSTOMER, time.time() - 30)  # OTHER never wrote: WhatsApp fails

    store = InMemoryDeliveryStateStore()
    deliverer = Deliverer(
        tenant_id="acme", redis=aredis, sender=Sender(client, recorder=StoreRecorder(store))
    )
    replies = [OutboundMessage(kind=OutboundKind.TEXT, text=f"r{i}") for i in range(3)]
    ours = await deliverer.send_turn_replies(
        "turn-1", Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time()), replies
    )
    [theirs] = await deliverer.send_turn_replies(
        "turn-2", Recipient(OTHER, phone=OTHER, last_inbound_at=time.time()), replies[:1]
    )
    await sink.wait_for(3 * 3 * 2 + 2, "/webhooks/msg91/status")

    consumer = DeliveryReportConsumer(aredis, "acme", store, retry_idle_ms=20)
    for _ in range(50):
        await consumer.run_once(block=False)
        if (await aredis.xpending(keyspace.dlr_stream_key("acme"), "delivery-state"))[
            "pending"
        ] == 0:
            break
        await asyncio.sleep(0.03)

    for outcome in ours:
        assert outcome.provider_message_id is not None
        record = await store.load("acme", outcome.provider_message_id)
        assert record is not None and record.state is S.READ
    assert theirs.provider_message_id is not None
    failed = await store.load("acme", theirs.provider_message_id)
    assert failed is not None
    assert (failed.state, failed.error_code) == (S.FAILED, "131047")
    assert failed.error_reason == "Re-engagement message"
