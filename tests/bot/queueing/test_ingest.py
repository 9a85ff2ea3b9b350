"""Ingest: dedupe, raw archive, throttle flags, drain enqueue as a normal rq job, one round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from rq import Queue
from rq.job import Job, JobStatus

from supportbot.queueing import keys, rqjobs
from supportbot.queueing.entries import decode_entry
from supportbot.queueing.ingest import AcceptOutcome, Ingestor, TenantMismatchError
from supportbot.queueing.testing import TENANT, make_message
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]


async def test_accept_enqueues_one_normal_rq_job(
    aredis: aioredis.Redis, redis_url: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    ingestor = Ingestor(aredis, settings)
    msg = make_message("919800000001", 1)
    assert await ingestor.accept(msg, b'{"raw":1}') is AcceptOutcome.ACCEPTED

    ref = keys.conversation_ref(msg.customer_id)
    conv = keys.conversation_keys(TENANT, ref)
    entries = await aredis.lrange(conv.inbox, 0, -1)
    assert [decode_entry(e) for e in entries] == [msg]
    assert await aredis.sismember(keys.active_key(TENANT), ref)

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

    raw = await aredis.xrange(keys.raw_stream_key(TENANT))
    assert raw is not None and len(raw) == 1
    fields = raw[0][1]
    assert fields is not None
    assert fields[b"b"] == b'{"raw":1}'
    assert fields[b"k"] == b"message"
    assert fields[b"id"] == msg.message_id.encode()
    assert float(fields[b"t"]) == msg.received_at


async def test_same_message_fifty_times_is_one_entry_and_one_job(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    ingestor = Ingestor(aredis, make_settings())
    msg = make_message("919800000002", 1)
    outcomes = [await ingestor.accept(msg, b"{}") for _ in range(50)]
    assert outcomes.count(AcceptOutcome.ACCEPTED) == 1
    assert outcomes.count(AcceptOutcome.DUPLICATE) == 49
    conv = keys.conversation_keys(TENANT, keys.conversation_ref(msg.customer_id))
    assert await aredis.llen(conv.inbox) == 1
    assert await aredis.llen(rqjobs.queue_key(f"supportbot-{TENANT}")) == 1
    assert await aredis.xlen(keys.raw_stream_key(TENANT)) == 1


async def test_second_message_joins_the_pending_drain(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    ingestor = Ingestor(aredis, make_settings())
    for seq in range(5):
        await ingestor.accept(make_message("919800000003", seq), b"{}")
    await ingestor.accept(make_message("919800000004", 0), b"{}")
    conv = keys.conversation_keys(TENANT, keys.conversation_ref("919800000003"))
    texts = [decode_entry(e).text for e in await aredis.lrange(conv.inbox, 0, -1)]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    assert await aredis.llen(rqjobs.queue_key(f"supportbot-{TENANT}")) == 2, "one per conversation"


async def test_throttle_flags_and_notifies_once_per_window(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    ingestor = Ingestor(aredis, make_settings(throttle_per_minute=3))
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

    conv = keys.conversation_keys(TENANT, keys.conversation_ref("919800000005"))
    msgs = [decode_entry(e) for e in await aredis.lrange(conv.inbox, 0, -1)]
    assert [m.throttled for m in msgs] == [False, False, False, True, True, True, False]
    assert [m.throttle_notice for m in msgs] == [False, False, False, True, False, False, False]


async def test_wrong_tenant_is_refused(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    ingestor = Ingestor(aredis, make_settings())
    with pytest.raises(TenantMismatchError):
        await ingestor.accept(make_message("919800000007", 0, tenant="other"), b"{}")
    assert await aredis.dbsize() == 0


class _CountingConnection(Connection):
    """A real connection that counts the requests it writes (one per round trip)."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)


async def test_one_round_trip_per_message(redis_url: str, make_settings: SettingsFactory) -> None:
    pool = aioredis.ConnectionPool.from_url(redis_url, connection_class=_CountingConnection)
    client = aioredis.Redis.from_pool(pool)
    try:
        ingestor = Ingestor(client, make_settings())
        await ingestor.accept(make_message("919800000008", 0), b"{}")  # loads the script once
        before = _CountingConnection.sent
        for seq in range(1, 21):
            await ingestor.accept(make_message(f"9198000001{seq:02d}", seq), b"{}")
        assert _CountingConnection.sent - before == 20
    finally:
        await client.aclose()
