"""Sends fenced by the conversation lease, and per-reply claims (real Redis + real simulator).

A run that lost its lease must never send; the run that took the conversation over sends every
reply exactly once and in order, also when the old owner was in the middle of a send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.attempts import ListAttemptRecorder
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer, Recipient, ReplyStatus, SendFence, SendFenced
from supportbot.provider.sending import Sender

CUSTOMER = "919876543210"
LEASE = "sb:acme:c:0123456789abcdef01234567:lease"
REPLIES = [OutboundMessage(kind=OutboundKind.TEXT, text=t) for t in ("first", "second", "third")]
FRESH = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time() - 60)

MakeDeliverer = Callable[..., Deliverer]


class Gate:
    """A Sender `sleep` (the retry backoff) that parks the sender until the test opens it."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def sleep(self, _seconds: float) -> None:
        self.reached.set()
        await self.opened.wait()


@pytest.fixture
def make(client: Msg91Client, aredis: aioredis.Redis) -> MakeDeliverer:
    def build(*, gate: Gate | None = None, in_flight: float = 1.0) -> Deliverer:
        sender = Sender(
            client,
            recorder=ListAttemptRecorder(),
            policy=RetryPolicy(max_attempts=3, base_delay=0.01),
            sleep=gate.sleep if gate else asyncio.sleep,
        )
        return Deliverer(tenant_id="acme", redis=aredis, sender=sender, in_flight_seconds=in_flight)

    return build


async def _texts(sim: SimulatorClient) -> list[object]:
    return [r["body"].get("text") for r in await sim.accepted(CUSTOMER)]


async def test_a_run_that_lost_its_lease_sends_nothing(
    make: MakeDeliverer, sim: SimulatorClient, aredis: aioredis.Redis
) -> None:
    await aredis.set(LEASE, "r:new-owner")
    with pytest.raises(SendFenced):
        await make().send_turn_replies("turn-f1", FRESH, REPLIES, fence=SendFence(LEASE, "r:old"))
    assert await _texts(sim) == []
    # the new owner is not held up by the fenced run: nothing of it is left behind
    done = await make().send_turn_replies(
        "turn-f1", FRESH, REPLIES, fence=SendFence(LEASE, "r:new-owner")
    )
    assert [o.status for o in done] == [ReplyStatus.SENT] * 3
    assert await _texts(sim) == ["first", "second", "third"]


async def test_lease_lost_mid_send_old_owner_stops_new_owner_sends_once_in_order(
    make: MakeDeliverer, sim: SimulatorClient, aredis: aioredis.Redis
) -> None:
    await aredis.set(LEASE, "r:old")
    gate = Gate()
    await sim.fail_next(503)  # the old owner's first attempt fails; it parks in its backoff
    old = asyncio.create_task(
        make(gate=gate).send_turn_replies(
            "turn-f2", FRESH, REPLIES, fence=SendFence(LEASE, "r:old")
        )
    )
    await asyncio.wait_for(gate.reached.wait(), 10)

    await aredis.set(LEASE, "r:new")  # the lease expired and another run took the turn over
    new = await asyncio.wait_for(
        make().send_turn_replies("turn-f2", FRESH, REPLIES, fence=SendFence(LEASE, "r:new")), 20
    )
    assert [o.replayed for o in new] == [False, False, False]

    gate.opened.set()  # the old owner wakes up for its retry: the fence stops it
    with pytest.raises(SendFenced):
        await asyncio.wait_for(old, 10)
    assert await _texts(sim) == ["first", "second", "third"]


async def test_owner_cancelled_mid_send_is_taken_over_after_its_claim_is_stale(
    make: MakeDeliverer, sim: SimulatorClient, aredis: aioredis.Redis
) -> None:
    await aredis.set(LEASE, "r:old")
    gate = Gate()
    await sim.fail_next(503)
    old = asyncio.create_task(
        make(gate=gate).send_turn_replies(
            "turn-f3", FRESH, REPLIES, fence=SendFence(LEASE, "r:old")
        )
    )
    await asyncio.wait_for(gate.reached.wait(), 10)
    old.cancel()  # killed mid-send: its claim on reply 0 stays behind
    with pytest.raises(asyncio.CancelledError):
        await old

    await aredis.set(LEASE, "r:new")
    new = await make(in_flight=1.0).send_turn_replies(
        "turn-f3", FRESH, REPLIES, fence=SendFence(LEASE, "r:new")
    )
    assert [o.status for o in new] == [ReplyStatus.SENT] * 3
    assert await _texts(sim) == ["first", "second", "third"]


async def test_concurrent_runs_of_one_turn_send_each_reply_once(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    await sim.configure(latency_ms=[150, 150])
    try:
        runs = [make(in_flight=30).send_turn_replies("turn-f4", FRESH, REPLIES) for _ in range(3)]
        results = await asyncio.wait_for(asyncio.gather(*runs), 30)
    finally:
        await sim.configure(latency_ms=[0, 0])
    assert await _texts(sim) == ["first", "second", "third"]
    fresh = [not o.replayed for outcomes in results for o in outcomes]
    assert fresh.count(True) == 3, "every reply was sent by exactly one of the runs"
