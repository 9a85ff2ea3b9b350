"""`supportbot_worker_queue_oldest_age_seconds`: how long the next drain job has waited, read
from the rq job hash the webhook wrote (what the SupportbotBacklogStale alert watches)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from supportbot.keyspace import conversation_ref
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.settings import BotSettings

AT = datetime(2026, 12, 3, 12, 0, 0, 250000, tzinfo=UTC)


async def _enqueue(
    redis: aioredis.Redis, settings: BotSettings, customer: str, at: datetime
) -> str:
    job = jobhash.prepare_drain_job(settings, conversation_ref(customer), redis, at=at)
    await redis.hset(job.key, mapping=dict(zip(job.fields[::2], job.fields[1::2], strict=True)))
    await redis.rpush(jobhash.queue_key(settings.queue_name), job.id)
    return job.key


async def test_head_age_is_the_wait_of_the_next_job(
    aredis: aioredis.Redis, make_settings: Callable[..., BotSettings]
) -> None:
    settings = make_settings(queue_name=f"age-{uuid.uuid4().hex[:8]}")
    assert await jobhash.head_age_seconds(aredis, settings.queue_name, AT) == 0.0, "empty queue"

    first = await _enqueue(aredis, settings, "919800000001", AT)
    await _enqueue(aredis, settings, "919800000002", AT + timedelta(seconds=30))
    later = AT + timedelta(seconds=95)
    assert await jobhash.head_age_seconds(aredis, settings.queue_name, later) == 95.0

    metrics = WorkerMetrics()
    metrics.queue_oldest_age.set(await jobhash.head_age_seconds(aredis, settings.queue_name, later))
    assert metrics.registry.get_sample_value("supportbot_worker_queue_oldest_age_seconds") == 95.0

    await aredis.lpop(jobhash.queue_key(settings.queue_name))
    assert await jobhash.head_age_seconds(aredis, settings.queue_name, later) == 65.0, "next head"

    assert await jobhash.head_age_seconds(aredis, settings.queue_name, AT) == 0.0, "never < 0"

    await aredis.lpush(jobhash.queue_key(settings.queue_name), "sbd-gone-0")
    assert await jobhash.head_age_seconds(aredis, settings.queue_name, later) == 0.0, "no hash"
    await aredis.delete(jobhash.queue_key(settings.queue_name), first)
