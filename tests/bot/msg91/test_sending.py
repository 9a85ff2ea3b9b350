"""Retries, backoff and attempt records, against the simulator with a real Redis rate limit."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.errors import AttemptOutcome, DefinitiveSendError
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.attempts import DeliveryAttempt, ListAttemptRecorder, SendContext
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.ratelimit import SendRateLimiter
from supportbot.provider.sending import DeliveryDeferred, Sender

NUMBER, CUSTOMER = "919000000001", "919876543210"
HI = OutboundMessage(kind=OutboundKind.TEXT, text="Hi")
CTX = SendContext(tenant_id="acme", customer_id=CUSTOMER, turn_id="turn-1", seq=0)
FAST = RetryPolicy(max_attempts=10, base_delay=0.05, max_delay=0.2)


def _attempts(outcome: str) -> float:
    value = REGISTRY.get_sample_value("supportbot_delivery_attempts_total", {"outcome": outcome})
    return value or 0.0


async def test_429_storm_backs_off_and_delivers_without_exceeding_the_rate(
    client: Msg91Client, sim: SimulatorClient, aredis: aioredis.Redis
) -> None:
    limiter = SendRateLimiter(
        aredis, tenant_id="acme", integrated_number=NUMBER, limit=10, period=1.0
    )
    recorder = ListAttemptRecorder()
    sender = Sender(client, limiter=limiter, recorder=recorder, policy=FAST, rng=random.Random(3))
    await sim.fail_next(429, count=6)
    limited_before = _attempts("rate_limited")

    texts = [f"reply {i}" for i in range(5)]
    results = await asyncio.gather(
        *(
            sender.send(CTX, CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text=t))
            for t in texts
        )
    )

    accepted = await sim.accepted(CUSTOMER)
    assert sorted(r["body"]["text"] for r in accepted) == texts  # every reply delivered once
    assert {r.message_uuid for r in results} == {r["message_ids"][0] for r in accepted}
    requests = await sim.messages()
    assert len(requests) == 11 and sum(r["outcome"] == "fault" for r in requests) == 6
    # the rate limit held for retries too: no 11 requests inside one second
    arrivals = sorted(r["mono"] for r in requests)
    for i in range(len(arrivals) - 10):
        assert arrivals[i + 10] - arrivals[i] >= 1.0 - 0.05
    outcomes = [a.outcome for a in recorder.attempts]
    assert outcomes.count(AttemptOutcome.RATE_LIMITED) == 6
    assert outcomes.count(AttemptOutcome.ACCEPTED) == 5
    for a in recorder.attempts:
        assert (a.retry_in_seconds is not None) == (a.outcome is AttemptOutcome.RATE_LIMITED)
    assert _attempts("rate_limited") == limited_before + 6


async def test_definitive_error_is_not_retried(client: Msg91Client, sim: SimulatorClient) -> None:
    recorder = ListAttemptRecorder()
    sender = Sender(client, recorder=recorder, policy=FAST)
    with pytest.raises(DefinitiveSendError):
        await sender.send(CTX, "12", HI)  # MSG91 rejects the recipient
    assert len(await sim.messages()) == 1
    [attempt] = recorder.attempts
    assert attempt.outcome is AttemptOutcome.REJECTED and attempt.http_status == 400
    assert attempt.retry_in_seconds is None and attempt.error_code == "INVALID_RECIPIENT"
    assert attempt.request_body["recipient_number"] == "12"
    assert attempt.response_text and "recipient" in attempt.response_text


async def test_retries_run_out_then_the_turn_is_deferred(
    client: Msg91Client, sim: SimulatorClient
) -> None:
    recorder = ListAttemptRecorder()
    sender = Sender(client, recorder=recorder, policy=RetryPolicy(max_attempts=3, base_delay=0.01))
    await sim.fail_next(503, count=3)
    with pytest.raises(DeliveryDeferred) as info:
        await sender.send(CTX, CUSTOMER, HI)
    assert info.value.attempts == 3
    assert info.value.last.outcome is AttemptOutcome.SERVER_ERROR
    assert [a.attempt for a in recorder.attempts] == [1, 2, 3]
    assert recorder.attempts[-1].retry_in_seconds is None
    result = await sender.send(CTX, CUSTOMER, HI)  # the outage is over
    assert result.message_uuid is not None


async def test_retry_after_is_honoured(client: Msg91Client, sim: SimulatorClient) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    recorder = ListAttemptRecorder()
    policy = RetryPolicy(base_delay=0.001)
    sender = Sender(client, recorder=recorder, policy=policy, sleep=sleep)
    await sim.fail_next(429, retry_after=0.3)
    await sender.send(CTX, CUSTOMER, HI)
    assert slept and slept[0] >= 0.3
    assert recorder.attempts[0].retry_in_seconds == slept[0]


class BrokenRecorder:
    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        raise RuntimeError("database down")


async def test_a_failing_recorder_never_stops_a_send(
    client: Msg91Client, sim: SimulatorClient
) -> None:
    sender = Sender(client, recorder=BrokenRecorder(), policy=FAST)
    result = await sender.send(CTX, CUSTOMER, HI)
    assert result.message_uuid == (await sim.accepted())[0]["message_ids"][0]
