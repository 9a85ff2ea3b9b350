"""A turn whose dependency is down is waited out, not failed: the drain keeps the conversation,
runs the same turn again (same attempt) after a capped backoff until the dependency is back, keeps
the customer's order, and dead-letters only past the turn's retry deadline (real Redis, the real
worker in this loop)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import Turn, TurnDeferred
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.drain import outage_delay
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.testing import TENANT, background_worker, make_message, wait_until
from supportbot.settings import BotSettings
from supportbot_dev.tcpproxy import FaultProxy

from .test_worker import SettingsFactory


class OutageHandler:
    """Raises `TurnDeferred` while `down` is set; records every call and each completed turn."""

    def __init__(self, down_for_calls: int) -> None:
        self.down_for_calls = down_for_calls
        self.calls: list[tuple[str, int, tuple[str, ...]]] = []
        self.done: list[tuple[str, ...]] = []

    async def handle_turn(self, turn: Turn) -> None:
        texts = tuple(m.text or "" for m in turn.messages)
        self.calls.append((turn.turn_id, turn.attempt, texts))
        if len(self.calls) <= self.down_for_calls:
            raise TurnDeferred("postgresql", "ConnectionRefusedError: [Errno 111]")
        self.done.append(texts)


def fast(make_settings: SettingsFactory, **overrides: object) -> BotSettings:
    return make_settings(
        coalesce_window_seconds=0,
        coalesce_max_wait_seconds=0,
        turn_retry_max_delay_seconds=0.05,
        **overrides,
    )


async def idle(r: aioredis.Redis) -> bool:
    return int(await r.scard(keyspace.active_key(TENANT))) == 0


async def test_a_long_outage_is_waited_out_without_attempts_and_in_order(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = fast(make_settings)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    # far more deferrals than rq retries + crash takeovers allow failures (4 + 6)
    handler = OutageHandler(down_for_calls=25)
    await ingestor.accept(make_message("919811110000", 0, text="first"), b"{}")
    async with background_worker(settings, aredis, handler):

        async def deferred_a_few_times() -> bool:
            return len(handler.calls) >= 3

        await wait_until(deferred_a_few_times, 10, "deferrals")
        # a later message of the same customer waits behind the deferred turn
        await ingestor.accept(make_message("919811110000", 1, text="second"), b"{}")

        async def both_done() -> bool:
            return len(handler.done) == 2

        await wait_until(both_done, 30, "both turns after the outage")
        await wait_until(lambda: idle(aredis), 10, "conversation idle")
    assert handler.done == [("first",), ("second",)]
    first_turn = handler.calls[0][0]
    runs_of_first = [c for c in handler.calls if c[0] == first_turn]
    assert len(runs_of_first) == 26
    assert {attempt for _, attempt, _ in runs_of_first} == {1}, "no attempt was consumed"
    assert await aredis.llen(keyspace.dead_letter_key(TENANT)) == 0


async def test_past_the_retry_deadline_the_turn_is_dead_lettered_with_the_reason(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = fast(make_settings, turn_retry_deadline_seconds=1)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    handler = OutageHandler(down_for_calls=10_000)
    await ingestor.accept(make_message("919822220000", 0, text="hello"), b"{}")
    async with background_worker(settings, aredis, handler):
        await wait_until(lambda: idle(aredis), 15, "dead-lettering past the deadline")
    [dead] = [json.loads(d) for d in await aredis.lrange(keyspace.dead_letter_key(TENANT), 0, -1)]
    assert "postgresql unavailable past the retry deadline" in dead["reason"]
    assert len(handler.calls) > 3 and not handler.done
    assert {attempt for _, attempt, _ in handler.calls} == {1}


def test_outage_delay_grows_to_its_cap_and_never_exceeds_it() -> None:
    rng = random.Random(7)
    delays = [outage_delay(n, 15.0, rng) for n in range(1, 40)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(7.5 <= d <= 15.0 for d in delays[6:])
    assert max(delays) <= 15.0


class PoisonHandler:
    """Fails every turn that contains the text "poison"; records the turns it completes."""

    def __init__(self) -> None:
        self.done: list[tuple[str, ...]] = []
        self.failed: list[tuple[str, ...]] = []

    async def handle_turn(self, turn: Turn) -> None:
        texts = tuple(m.text or "" for m in turn.messages)
        if "poison" in texts:
            self.failed.append(texts)
            raise ValueError("cannot process this message")
        self.done.append(texts)


async def test_one_poison_message_of_a_coalesced_turn_is_dead_lettered_alone(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings(coalesce_window_seconds=0.3, coalesce_max_wait_seconds=2)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    customer = "919833330000"
    for seq, text in enumerate(["one", "poison", "three", "four"]):
        await ingestor.accept(make_message(customer, seq, text=text), b"{}")
    handler = PoisonHandler()
    async with background_worker(settings, aredis, handler):
        await wait_until(lambda: idle(aredis), 60, "the conversation to settle")
    assert handler.failed[0] == ("one", "poison", "three", "four"), "they were coalesced"
    answered = [text for turn in handler.done for text in turn]
    assert answered == ["one", "three", "four"], "the others are answered, in order"
    [dead] = [json.loads(d) for d in await aredis.lrange(keyspace.dead_letter_key(TENANT), 0, -1)]
    assert len(dead["entries"]) == 1 and "poison" in dead["entries"][0]
    assert "ValueError" in dead["reason"]


async def test_a_job_popped_as_redis_fails_is_requeued_when_redis_is_back(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    """Redis goes away right after the worker popped a drain job (before rq's start): the job
    must not wait for rq's intermediate-queue cleanup or the lease to expire (minutes)."""
    port = urlsplit(redis_url).port
    assert port is not None
    proxy = await FaultProxy(port).start()
    via_proxy = urlunsplit(urlsplit(redis_url)._replace(netloc=f"127.0.0.1:{proxy.port}"))
    settings = fast(make_settings, REDIS_URL=via_proxy)
    worker_redis = aioredis.Redis.from_url(via_proxy)
    handler = OutageHandler(down_for_calls=0)
    try:
        async with background_worker(settings, worker_redis, handler):
            proxy.cut_when(b"HGETALL")  # the worker's fetch of the job it just popped
            await Ingestor(aredis, settings, pipeline=pipelined).accept(
                make_message("919844440000", 0, text="hi"), b"{}"
            )
            await asyncio.wait_for(proxy.triggered.wait(), 10)
            await asyncio.sleep(2.0)  # the outage lasts 2 s (its length, not a synchronisation)
            await proxy.heal()
            healed = time.monotonic()

            async def answered() -> bool:
                return handler.done == [("hi",)]

            await wait_until(answered, 15, "the turn after Redis is back")
            assert time.monotonic() - healed < settings.lease_seconds / 2
    finally:
        await proxy.close()
        await worker_redis.aclose()
