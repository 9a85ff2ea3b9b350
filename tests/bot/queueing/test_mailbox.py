"""Mailbox protocol: the Lua contracts on a real Redis, and the pure decisions of the drain."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.drain import coalesce_delay, retry_backoff
from supportbot.queueing.entries import EntryError, decode_entry
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.mailbox import Acquired, ClaimStatus, Mailbox
from supportbot.queueing.testing import TENANT, make_message
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]
CUSTOMER = "919870000001"
REF = keyspace.conversation_ref(CUSTOMER)
QUEUE_KEY = jobhash.queue_key(f"supportbot-{TENANT}")


def test_coalesce_delay_waits_for_quiet_but_not_past_the_cap() -> None:
    assert coalesce_delay(now=10.0, first_at=10.0, last_at=10.0, window=1.5, cap=5) == 1.5
    assert coalesce_delay(now=11.0, first_at=10.0, last_at=10.5, window=1.5, cap=5) == 1.0
    assert coalesce_delay(now=14.5, first_at=10.0, last_at=14.4, window=1.5, cap=5) == 0.5
    assert coalesce_delay(now=15.0, first_at=10.0, last_at=14.9, window=1.5, cap=5) == 0.0
    assert coalesce_delay(now=12.0, first_at=10.0, last_at=10.0, window=1.5, cap=5) == 0.0
    assert coalesce_delay(now=10.0, first_at=10.0, last_at=10.0, window=0, cap=0) == 0.0


def test_retry_backoff_grows_and_is_capped() -> None:
    assert [retry_backoff(a) for a in (1, 2, 3, 4, 5, 9)] == [0, 1, 2, 4, 8, 10]


def test_turn_id_is_stable_and_job_ids_are_rq_safe() -> None:
    a = keyspace.turn_id_for(TENANT, REF, "wamid.1")
    assert a == keyspace.turn_id_for(TENANT, REF, "wamid.1")
    assert a != keyspace.turn_id_for(TENANT, REF, "wamid.2")
    assert a == keyspace.turn_id_for(TENANT, REF, "wamid.1", 1)
    assert a != keyspace.turn_id_for(TENANT, REF, "wamid.1", 2), "a split turn is a new turn"
    job_id = keyspace.drain_job_id(REF)
    assert keyspace.JOB_ID_RE.match(job_id) and keyspace.ref_of_job_id(job_id) == REF
    assert CUSTOMER not in REF


def test_bad_inbox_entry_is_a_typed_error() -> None:
    with pytest.raises(EntryError):
        decode_entry(b"{}")
    with pytest.raises(EntryError):
        decode_entry(b"-not json")


async def _queued_job(r: aioredis.Redis) -> str:
    raw = await r.get(keyspace.conversation_keys(TENANT, REF).lease)
    lease = raw.decode() if isinstance(raw, bytes) else str(raw)
    assert lease.startswith("q:")
    return lease[2:]


async def test_claim_holds_messages_until_acknowledged(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    ingestor, mailbox = Ingestor(aredis, settings, pipeline=pipelined), Mailbox(aredis, settings)
    for seq in range(3):
        await ingestor.accept(make_message(CUSTOMER, seq), b"{}")
    job = await _queued_job(aredis)
    assert await mailbox.acquire(REF, "sbd-other-x", "r:other") is Acquired.NO
    assert await mailbox.acquire(REF, job, f"r:{job}:1") is Acquired.QUEUED

    claim = await mailbox.claim(REF, f"r:{job}:1", max_batch=2)
    assert claim.status is ClaimStatus.CLAIMED and claim.attempt == 1
    assert [decode_entry(e).text for e in claim.entries] == ["m0", "m1"]
    # a re-run (crash, retry) gets the same held messages with the next attempt number
    again = await mailbox.claim(REF, f"r:{job}:1", max_batch=2)
    assert again.entries == claim.entries and again.attempt == 2
    assert (await mailbox.claim(REF, "r:intruder", 2)).status is ClaimStatus.LOST

    # ack with one message still pending: the conversation goes to a new queued drain
    assert await mailbox.finish(REF, "r:intruder", job, ack=True) == -1
    assert await mailbox.finish(REF, f"r:{job}:1", job, ack=True) == 1
    conv = keyspace.conversation_keys(TENANT, REF)
    assert await aredis.llen(conv.processing) == 0
    nxt = await _queued_job(aredis)
    assert nxt != job and await aredis.lrange(QUEUE_KEY, 0, -1) == [job.encode(), nxt.encode()]

    assert await mailbox.acquire(REF, nxt, f"r:{nxt}:2") is Acquired.QUEUED
    last = await mailbox.claim(REF, f"r:{nxt}:2", max_batch=50)
    assert [decode_entry(e).text for e in last.entries] == ["m2"]
    assert await mailbox.finish(REF, f"r:{nxt}:2", nxt, ack=True) == 0
    assert await aredis.exists(conv.lease, conv.inbox, conv.processing, conv.attempt) == 0
    assert not await aredis.sismember(keyspace.active_key(TENANT), REF)


async def test_running_drain_absorbs_new_messages(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    ingestor, mailbox = Ingestor(aredis, settings, pipeline=pipelined), Mailbox(aredis, settings)
    await ingestor.accept(make_message(CUSTOMER, 0), b"{}")
    job = await _queued_job(aredis)
    await mailbox.acquire(REF, job, f"r:{job}:1")
    await ingestor.accept(make_message(CUSTOMER, 1), b"{}")
    assert await aredis.llen(QUEUE_KEY) == 1, "no second drain while one runs"


async def test_sweeper_kick_recovers_an_orphaned_turn(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    ingestor, mailbox = Ingestor(aredis, settings, pipeline=pipelined), Mailbox(aredis, settings)
    await ingestor.accept(make_message(CUSTOMER, 0), b"{}")
    job = await _queued_job(aredis)
    await mailbox.acquire(REF, job, f"r:{job}:1")
    await mailbox.claim(REF, f"r:{job}:1", 50)
    assert await mailbox.kick(REF) == 0, "a live lease is left alone"
    await aredis.delete(keyspace.conversation_keys(TENANT, REF).lease)  # the lease expired
    assert await mailbox.kick(REF) == 2
    assert await mailbox.kick(REF) == 0, "only one drain is enqueued"
    nxt = await _queued_job(aredis)
    assert await mailbox.acquire(REF, nxt, f"r:{nxt}:9") is Acquired.QUEUED
    claim = await mailbox.claim(REF, f"r:{nxt}:9", 50)
    assert claim.attempt == 2 and len(claim.entries) == 1


async def test_idle_conversation_leaves_the_active_set(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    mailbox = Mailbox(aredis, make_settings())
    await aredis.sadd(keyspace.active_key(TENANT), REF)
    assert await mailbox.kick(REF) == 0
    assert not await aredis.sismember(keyspace.active_key(TENANT), REF)


async def test_park_and_dead_letter(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    ingestor, mailbox = Ingestor(aredis, settings, pipeline=pipelined), Mailbox(aredis, settings)
    await ingestor.accept(make_message(CUSTOMER, 0), b"{}")
    job = await _queued_job(aredis)
    token = f"r:{job}:1"
    await mailbox.acquire(REF, job, token)
    await mailbox.claim(REF, token, 50)
    assert await mailbox.park(REF, token, job)
    assert await _queued_job(aredis) == job, "the job keeps the conversation for its retry"
    assert not await mailbox.park(REF, "r:intruder", "sbd-x-y")

    await ingestor.accept(make_message(CUSTOMER, 1), b"{}")
    assert await mailbox.dead_letter(REF, token, job, "boom") == 1, "m1 gets a new drain"
    dead = [json.loads(d) for d in await aredis.lrange(keyspace.dead_letter_key(TENANT), 0, -1)]
    assert len(dead) == 1 and dead[0]["reason"] == "boom" and dead[0]["ref"] == REF
    assert [decode_entry(e).text for e in dead[0]["entries"]] == ["m0"]
    conv = keyspace.conversation_keys(TENANT, REF)
    assert await aredis.llen(conv.processing) == 0 and await aredis.llen(conv.inbox) == 1
