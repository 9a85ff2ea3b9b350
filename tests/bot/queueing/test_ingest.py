"""Ingest: dedupe, raw archive, throttle flags, drain enqueue as a normal rq job, one round trip.

The script runs over `PipelinedRedis` (the webhook's transport, the only one). The drain job
hash is compared with rq's own for the same inputs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job, JobStatus

from supportbot import keyspace
from supportbot.messages import WIRE_REQUEST_ID, InboundMessage, MessageKind
from supportbot.queueing import rqjobs
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.entries import decode_entry
from supportbot.queueing.ingest import AcceptOutcome, Ingestor, TenantMismatchError
from supportbot.queueing.testing import TENANT, make_message
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]
IngestorFactory = Callable[[BotSettings], Ingestor]


@pytest.fixture
def make_ingestor(aredis: aioredis.Redis, pipelined: PipelinedRedis) -> IngestorFactory:
    def make(settings: BotSettings) -> Ingestor:
        return Ingestor(aredis, settings, pipeline=pipelined)

    return make


async def test_accept_enqueues_one_normal_rq_job(
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    make_ingestor: IngestorFactory,
) -> None:
    settings = make_settings()
    ingestor = make_ingestor(settings)
    msg = make_message("919800000001", 1)
    assert await ingestor.accept(msg, b'{"raw":1}') is AcceptOutcome.ACCEPTED

    ref = keyspace.conversation_ref(msg.customer_id)
    conv = keyspace.conversation_keys(TENANT, ref)
    entries = await aredis.lrange(conv.inbox, 0, -1)
    assert [decode_entry(e) for e in entries] == [msg]
    assert await aredis.sismember(keyspace.active_key(TENANT), ref)

    sync = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(settings.queue_name, connection=sync)
        assert queue.count == 1
        assert queue.key.encode() in sync.smembers("rq:queues")
        job = Job.fetch(queue.job_ids[0], connection=sync)
        assert job.get_status() == JobStatus.QUEUED
        assert job.func_name == rqjobs.DRAIN_FUNC
        assert job.args == [TENANT, ref] or job.args == (TENANT, ref)
        assert job.retries_left == rqjobs.DRAIN_RETRIES
        assert job.origin == settings.queue_name
        assert msg.customer_id not in (job.description or "")
        lease = await aredis.get(conv.lease)
        assert lease == f"q:{job.id}".encode()
    finally:
        sync.close()

    raw = await aredis.xrange(keyspace.raw_stream_key(TENANT))
    assert raw is not None and len(raw) == 1
    fields = raw[0][1]
    assert fields is not None
    assert fields[b"b"] == b'{"raw":1}'
    assert fields[b"k"] == b"message"
    assert fields[b"id"] == msg.message_id.encode()
    assert float(fields[b"t"]) == msg.received_at


async def test_same_message_fifty_times_is_one_entry_and_one_job(
    aredis: aioredis.Redis, make_settings: SettingsFactory, make_ingestor: IngestorFactory
) -> None:
    ingestor = make_ingestor(make_settings())
    msg = make_message("919800000002", 1)
    outcomes = [await ingestor.accept(msg, b"{}") for _ in range(50)]
    assert outcomes.count(AcceptOutcome.ACCEPTED) == 1
    assert outcomes.count(AcceptOutcome.DUPLICATE) == 49
    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(msg.customer_id))
    assert await aredis.llen(conv.inbox) == 1
    assert await aredis.llen(jobhash.queue_key(f"supportbot-{TENANT}")) == 1
    assert await aredis.xlen(keyspace.raw_stream_key(TENANT)) == 1


async def test_second_message_joins_the_pending_drain(
    aredis: aioredis.Redis, make_settings: SettingsFactory, make_ingestor: IngestorFactory
) -> None:
    ingestor = make_ingestor(make_settings())
    for seq in range(5):
        await ingestor.accept(make_message("919800000003", seq), b"{}")
    await ingestor.accept(make_message("919800000004", 0), b"{}")
    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref("919800000003"))
    texts = [decode_entry(e).text for e in await aredis.lrange(conv.inbox, 0, -1)]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    assert await aredis.llen(jobhash.queue_key(f"supportbot-{TENANT}")) == 2, "one per conversation"


async def test_throttle_flags_and_notifies_once_per_window(
    aredis: aioredis.Redis, make_settings: SettingsFactory, make_ingestor: IngestorFactory
) -> None:
    ingestor = make_ingestor(make_settings(throttle_per_minute=3))
    t0 = 1_800_000_000.0  # start of a minute window
    outcomes = [
        await ingestor.accept(make_message("919800000005", i, received_at=t0 + i), b"{}")
        for i in range(6)
    ]
    assert outcomes == [
        AcceptOutcome.ACCEPTED,
        AcceptOutcome.ACCEPTED,
        AcceptOutcome.ACCEPTED,
        AcceptOutcome.THROTTLED_NOTIFY,
        AcceptOutcome.THROTTLED,
        AcceptOutcome.THROTTLED,
    ]
    # the next window starts fresh
    nxt = make_message("919800000005", 9, received_at=t0 + 60)
    assert await ingestor.accept(nxt, b"{}") is AcceptOutcome.ACCEPTED
    # another customer is not affected
    other = make_message("919800000006", 0, received_at=t0 + 5)
    assert await ingestor.accept(other, b"{}") is AcceptOutcome.ACCEPTED

    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref("919800000005"))
    msgs = [decode_entry(e) for e in await aredis.lrange(conv.inbox, 0, -1)]
    assert [m.throttled for m in msgs] == [False, False, False, True, True, True, False]
    assert [m.throttle_notice for m in msgs] == [False, False, False, True, False, False, False]


async def test_wrong_tenant_is_refused(
    aredis: aioredis.Redis, make_settings: SettingsFactory, make_ingestor: IngestorFactory
) -> None:
    ingestor = make_ingestor(make_settings())
    with pytest.raises(TenantMismatchError):
        await ingestor.accept(make_message("919800000007", 0, tenant="other"), b"{}")
    assert await aredis.dbsize() == 0


async def test_pipelined_ingest_is_one_evalsha_per_message(
    aredis: aioredis.Redis, redis_url: str, make_settings: SettingsFactory
) -> None:
    pipeline = PipelinedRedis.from_url(redis_url)
    try:
        ingestor = Ingestor(aredis, make_settings(), pipeline=pipeline)
        await ingestor.accept(make_message("919800000200", 0), b"{}")  # loads the script once
        await aredis.config_resetstat()
        for seq in range(1, 21):
            await ingestor.accept(make_message(f"9198000002{seq:02d}", seq), b"{}")
        stats = await aredis.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        assert calls.pop("evalsha") == 20
        # the rest ran inside the script (or is this test's own INFO / CONFIG RESETSTAT)
        inside = {"set", "xadd", "incr", "expire", "rpush", "sadd", "exists", "hset"}
        assert set(calls) <= inside | {"info", "config|resetstat"}
    finally:
        await pipeline.aclose()


async def test_concurrent_messages_of_one_conversation_keep_their_order(
    aredis: aioredis.Redis, redis_url: str, make_settings: SettingsFactory
) -> None:
    pipeline = PipelinedRedis.from_url(redis_url)
    try:
        ingestor = Ingestor(aredis, make_settings(throttle_per_minute=1000), pipeline=pipeline)
        msgs = [make_message("919800000300", seq) for seq in range(50)]
        outcomes = await asyncio.gather(*(ingestor.accept(m, b"{}") for m in msgs))
        assert set(outcomes) == {AcceptOutcome.ACCEPTED}
        conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref("919800000300"))
        texts = [decode_entry(e).text for e in await aredis.lrange(conv.inbox, 0, -1)]
        assert texts == [f"m{seq}" for seq in range(50)]
        assert await aredis.llen(jobhash.queue_key(f"supportbot-{TENANT}")) == 1
    finally:
        await pipeline.aclose()


def _rq_reference(settings: BotSettings, ref: str, job_id: str, at: datetime) -> tuple[Any, ...]:
    sync = redis.Redis()  # never connected: rq only keeps it on the Job
    return jobhash._flat(jobhash.build_rq_job(settings, ref, job_id, sync, at=at).to_dict())


@pytest.mark.parametrize("tenant", ["acme", "t", "a" * 63, "tenant-with-dashes-01"])
def test_prepared_job_hash_equals_rq_job_create_to_dict(
    make_settings: SettingsFactory, tenant: str
) -> None:
    settings = make_settings(tenant_id=tenant)
    rng = random.Random(tenant)
    for n in range(200):
        ref = keyspace.conversation_ref(f"9198{rng.randrange(10**8):08d}")
        at = datetime(2026, 11, 25, 12, 0, n % 60, rng.randrange(10**6), tzinfo=UTC)
        job = jobhash.prepare_drain_job(settings, ref, redis.Redis(), at=at)
        assert job.fields == _rq_reference(settings, ref, job.id, at), (tenant, ref)
        assert job.key == Job.key_for(job.id)
    assert jobhash._cheap_zlib_ok


async def test_prepared_job_restores_as_the_rq_job(
    redis_url: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    sync = redis.Redis.from_url(redis_url)
    try:
        job = jobhash.prepare_drain_job(settings, "0123456789abcdef01234567", sync)
        sync.hset(job.key, mapping=dict(zip(job.fields[0::2], job.fields[1::2], strict=True)))
        fetched = Job.fetch(job.id, connection=sync)
        assert fetched.func_name == rqjobs.DRAIN_FUNC
        assert tuple(fetched.args) == (TENANT, "0123456789abcdef01234567")
        assert fetched.kwargs == {}
        assert fetched.get_status() == JobStatus.QUEUED
        assert fetched.created_at is not None and fetched.enqueued_at is not None
        assert fetched.timeout == rqjobs.job_timeout_seconds(settings)
    finally:
        sync.close()


def _reference_json(message: InboundMessage) -> str:
    """The original to_json: dataclasses.asdict + json.dumps, with the request id inside `extra`
    (the wire keeps the previous release's top-level fields, see `InboundMessage.to_json`)."""
    plain = dataclasses.asdict(message)
    request_id = plain.pop("request_id")
    if request_id is not None:
        plain["extra"] = {**plain["extra"], WIRE_REQUEST_ID: request_id}
    return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "message",
    [
        make_message("919800000400", 1),
        InboundMessage(
            tenant_id="acme",
            customer_id="US.13491208655302741918",
            message_id='wamid."quoted"\\',
            kind=MessageKind.LOCATION,
            received_at=1_779_000_000.123456,
            phone=None,
            bsuid="US.13491208655302741918",
            text="naïve 日本 \u2028 emoji 😀 \x00",
            reply_id="row-1",
            media_url="https://example.invalid/a?b=c&d=é",
            media_mime="image/jpeg",
            customer_name="Zoë",
            sent_at=1e16,
            extra={
                "location": {"lat": 1.5, "lng": -2},
                "list": [1, "two", None, True],
                "n": 10**20,
            },
            throttled=True,
            throttle_notice=True,
            request_id="req-9",
        ),
    ],
)
def test_to_json_is_the_asdict_encoding(message: InboundMessage) -> None:
    assert message.to_json() == _reference_json(message)
    assert InboundMessage.from_json(message.to_json()) == message


def test_to_json_falls_back_to_asdict_for_nested_dataclasses() -> None:
    nested = dataclasses.replace(
        make_message("919800000401", 1), extra={"inner": make_message("919800000402", 2)}
    )
    assert nested.to_json() == _reference_json(nested)
