"""In-doubt sends: a reply whose sender died after MSG91 accepted it is not sent again when a
delivery report shows it went out (real Redis, the MSG91 simulator, the real report consumer)."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import DeliveryReport, DeliveryState, OutboundKind, OutboundMessage
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.attempts import ListAttemptRecorder
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer, Recipient, ReplyStatus
from supportbot.provider.dlr_consumer import DeliveryReportConsumer
from supportbot.provider.dlr_store import InMemoryDeliveryStateStore
from supportbot.provider.indoubt import InDoubtResolver
from supportbot.provider.sending import Sender

TENANT, CUSTOMER = "acme", "919876543210"
REPLY = OutboundMessage(kind=OutboundKind.TEXT, text="Your order ships today.")
FRESH = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time() - 60)


async def crashed_mid_send(
    client: Msg91Client, aredis: aioredis.Redis, turn_id: str, *, seconds_ago: float = 120
) -> str:
    """What a worker SIGKILLed right after MSG91 accepted its send leaves behind: the accepted
    message at MSG91 and a "sending" claim that never settled. Returns the provider id."""
    result = await client.send(CUSTOMER, REPLY)
    assert result.provider_message_id is not None
    started_ms = int((time.time() - seconds_ago) * 1000)
    marker = keyspace.sent_marker_key(TENANT, turn_id, 0)
    await aredis.set(marker, f"S|r:dead-owner:1|{started_ms}", ex=3600)
    return result.provider_message_id


async def report_arrives(
    aredis: aioredis.Redis, store: InMemoryDeliveryStateStore, provider_id: str, at: float
) -> None:
    """MSG91's outbound report reaches the webhook (stream) and the worker's consumer."""
    report = DeliveryReport(
        tenant_id=TENANT,
        provider_message_id=provider_id,
        state=DeliveryState.SENT,
        received_at=at,
        customer_id=CUSTOMER,
        extra={"provider": "msg91", "request_id": provider_id},
    )
    await aredis.xadd(keyspace.dlr_stream_key(TENANT), {"r": report.to_json()})
    consumer = DeliveryReportConsumer(aredis, TENANT, store, retry_idle_ms=60_000)
    stats = await consumer.run_once(block=False)
    assert stats.results == {"pending": 1}, "unknown to the store: kept pending and indexed"


@pytest.fixture
def store() -> InMemoryDeliveryStateStore:
    return InMemoryDeliveryStateStore()


@pytest.fixture
def recorder() -> ListAttemptRecorder:
    return ListAttemptRecorder()


@pytest.fixture
def deliverer(
    client: Msg91Client,
    aredis: aioredis.Redis,
    store: InMemoryDeliveryStateStore,
    recorder: ListAttemptRecorder,
) -> Deliverer:
    sender = Sender(client, recorder=recorder, policy=RetryPolicy(base_delay=0.01))
    resolver = InDoubtResolver(aredis, TENANT, store)
    return Deliverer(tenant_id=TENANT, redis=aredis, sender=sender, in_doubt=resolver)


async def test_a_reported_in_doubt_send_is_settled_not_sent_again(
    deliverer: Deliverer,
    client: Msg91Client,
    aredis: aioredis.Redis,
    sim: SimulatorClient,
    store: InMemoryDeliveryStateStore,
    recorder: ListAttemptRecorder,
) -> None:
    provider_id = await crashed_mid_send(client, aredis, "turn-x")
    await report_arrives(aredis, store, provider_id, at=time.time() - 115)

    [outcome] = await deliverer.send_turn_replies("turn-x", FRESH, [REPLY])
    assert outcome.status is ReplyStatus.SENT and not outcome.replayed
    assert outcome.provider_message_id == provider_id
    assert len(await sim.accepted(CUSTOMER)) == 1, "not sent a second time"
    [attempt] = recorder.attempts
    assert attempt.provider_message_id == provider_id and attempt.attempt == 0

    # the turn run again later replays the settled outcome
    [again] = await deliverer.send_turn_replies("turn-x", FRESH, [REPLY])
    assert again.replayed and again.provider_message_id == provider_id
    assert len(await sim.accepted(CUSTOMER)) == 1


async def test_without_a_report_the_in_doubt_reply_is_sent_again(
    deliverer: Deliverer, client: Msg91Client, aredis: aioredis.Redis, sim: SimulatorClient
) -> None:
    await crashed_mid_send(client, aredis, "turn-y")
    [outcome] = await deliverer.send_turn_replies("turn-y", FRESH, [REPLY])
    assert outcome.status is ReplyStatus.SENT
    assert len(await sim.accepted(CUSTOMER)) == 2, "at-least-once: sent again"


async def test_reports_of_recorded_or_earlier_sends_are_not_evidence(
    deliverer: Deliverer,
    client: Msg91Client,
    aredis: aioredis.Redis,
    sim: SimulatorClient,
    store: InMemoryDeliveryStateStore,
) -> None:
    await crashed_mid_send(client, aredis, "turn-z")
    # a report of an earlier send of ours that was recorded (the store knows its id) ...
    store.register(TENANT, "earlier-recorded")
    await aredis.zadd(
        keyspace.outbound_reports_key(TENANT, CUSTOMER),
        {"earlier-recorded": int(time.time() * 1000)},
    )
    # ... and an unrecorded report received BEFORE the in-doubt attempt started
    await aredis.zadd(
        keyspace.outbound_reports_key(TENANT, CUSTOMER),
        {"before-the-claim": int((time.time() - 600) * 1000)},
    )
    [outcome] = await deliverer.send_turn_replies("turn-z", FRESH, [REPLY])
    assert outcome.status is ReplyStatus.SENT
    assert outcome.provider_message_id not in {"earlier-recorded", "before-the-claim"}
    assert len(await sim.accepted(CUSTOMER)) == 2
