"""The asyncio worker in-process: turns, coalescing, dedupe, throttle flags, rq registries,
retries into FailedJobRegistry and the dead-letter list."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable

import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from supportbot import keyspace
from supportbot.queueing import rqjobs
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.ingest import AcceptOutcome, Ingestor
from supportbot.queueing.testing import (
    TENANT,
    RecordingHandler,
    background_worker,
    make_message,
    recorded_replies,
    recorded_starts,
    recorded_turns,
    wait_until,
)
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]


def handler(r: aioredis.Redis, *, fail: bool = False) -> RecordingHandler:
    return RecordingHandler(r, (0.0, 0.0), fail, os.getpid())


async def test_burst_is_one_turn_and_dedupe_holds(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(coalesce_window_seconds=0.5, coalesce_max_wait_seconds=3)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    async with background_worker(settings, aredis, handler(aredis)):
        first = make_message("919811111111", 0)
        for _ in range(50):
            await ingestor.accept(first, b"{}")
        for seq in (1, 2):
            await ingestor.accept(make_message("919811111111", seq), b"{}")

        async def one_turn() -> bool:
            return len(await recorded_turns(aredis)) >= 1

        await wait_until(one_turn, 15, "the turn")
        await wait_until(lambda: _idle(aredis), 10, "conversation idle")
    turns = await recorded_turns(aredis)
    assert len(turns) == 1
    assert turns[0]["texts"] == ["m0", "m1", "m2"]
    assert turns[0]["attempt"] == 1
    assert turns[0]["turn_id"] == keyspace.turn_id_for(
        TENANT, keyspace.conversation_ref("919811111111"), first.message_id, 3
    )
    assert len(await recorded_replies(aredis)) == 1

    sync = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(settings.queue_name, connection=sync)
        finished = FinishedJobRegistry(queue=queue).get_job_ids()
        assert len(finished) >= 1
        job = Job.fetch(finished[0], connection=sync)
        assert job.get_status() == JobStatus.FINISHED
        assert queue.count == 0
    finally:
        sync.close()


async def _idle(r: aioredis.Redis) -> bool:
    return int(await r.scard(keyspace.active_key(TENANT))) == 0


async def test_throttled_messages_reach_the_handler_flagged(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        throttle_per_minute=2, coalesce_window_seconds=0.3, coalesce_max_wait_seconds=2
    )
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    window_start = (time.time() // 60 - 2) * 60  # one whole past minute: a single window
    outcomes = [
        await ingestor.accept(make_message("919822222222", i, received_at=window_start + i), b"{}")
        for i in range(4)
    ]
    assert outcomes == [
        AcceptOutcome.ACCEPTED,
        AcceptOutcome.ACCEPTED,
        AcceptOutcome.THROTTLED_NOTIFY,
        AcceptOutcome.THROTTLED,
    ]
    async with background_worker(settings, aredis, handler(aredis)):
        await wait_until(lambda: _idle(aredis), 15, "conversation idle")
    turns = await recorded_turns(aredis)
    flags = [f for t in turns for f in t["throttled"]]
    notices = [n for t in turns for n in t["notice"]]
    texts = [x for t in turns for x in t["texts"]]
    assert texts == ["m0", "m1", "m2", "m3"]
    assert flags.count(True) == 2 and notices.count(True) == 1
    assert sum(not f for f in flags) == 2


async def test_failing_turn_retries_then_fails_and_is_dead_lettered(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(coalesce_window_seconds=0, coalesce_max_wait_seconds=0)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    await ingestor.accept(make_message("919833333333", 0), b"{}")
    async with background_worker(settings, aredis, handler(aredis, fail=True)):
        await wait_until(lambda: _idle(aredis), 40, "dead-lettering")
        # a later message of the same customer is processed normally (by a failing handler,
        # so it is only started): the conversation is not stuck behind the poison turn
        await ingestor.accept(make_message("919833333333", 1), b"{}")

        async def second_started() -> bool:
            return len({s["turn_id"] for s in await recorded_starts(aredis)}) == 2

        await wait_until(second_started, 20, "the next turn")

    starts = await recorded_starts(aredis)
    first = [s for s in starts if s["turn_id"] == starts[0]["turn_id"]]
    assert [s["attempt"] for s in first] == list(range(1, 2 + rqjobs.DRAIN_RETRIES))

    dead = [json.loads(d) for d in await aredis.lrange(keyspace.dead_letter_key(TENANT), 0, -1)]
    assert dead and dead[-1]["ref"] == keyspace.conversation_ref("919833333333")
    assert "InjectedFailure" in dead[-1]["reason"]
    assert len(dead[-1]["entries"]) == 1

    sync = redis.Redis.from_url(redis_url)
    try:
        failed = FailedJobRegistry(queue=Queue(settings.queue_name, connection=sync))
        ids = failed.get_job_ids()
        assert ids, "the exhausted job is in FailedJobRegistry"
        job = Job.fetch(ids[0], connection=sync)
        assert job.get_status() == JobStatus.FAILED
        assert job.retries_left == 0
        result = job.latest_result()
        assert result is not None and "InjectedFailure" in (result.exc_string or "")
    finally:
        sync.close()
    assert await recorded_replies(aredis) == []


async def test_turn_timeout_is_an_rq_job_timeout(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        turn_timeout_seconds=0.3, coalesce_window_seconds=0, coalesce_max_wait_seconds=0
    )
    await Ingestor(aredis, settings, pipeline=pipelined).accept(
        make_message("919844444444", 0), b"{}"
    )
    slow = RecordingHandler(aredis, (2.0, 2.0), False, os.getpid())
    async with background_worker(settings, aredis, slow):
        await wait_until(lambda: _idle(aredis), 40, "dead-lettering")
    assert await recorded_turns(aredis) == [], "no attempt completed"
    assert len(await recorded_starts(aredis)) == 1 + rqjobs.DRAIN_RETRIES
    sync = redis.Redis.from_url(redis_url)
    try:
        failed = FailedJobRegistry(queue=Queue(settings.queue_name, connection=sync))
        result = Job.fetch(failed.get_job_ids()[0], connection=sync).latest_result()
        assert result is not None and "JobTimeoutException" in (result.exc_string or "")
    finally:
        sync.close()


async def test_rq_stop_job_command_stops_the_turn(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(coalesce_window_seconds=0, coalesce_max_wait_seconds=0)
    await Ingestor(aredis, settings, pipeline=pipelined).accept(
        make_message("919855555555", 0), b"{}"
    )
    slow = RecordingHandler(aredis, (30.0, 30.0), False, os.getpid())
    sync = redis.Redis.from_url(redis_url)
    try:
        async with background_worker(settings, aredis, slow):

            async def started() -> bool:
                return len(await recorded_starts(aredis)) == 1

            await wait_until(started, 10, "the turn")
            job_id = Queue(settings.queue_name, connection=sync).started_job_registry.get_job_ids()
            await asyncio.to_thread(send_stop_job_command, sync, job_id[0])
            await wait_until(lambda: _idle(aredis), 10, "the stopped turn to be dead-lettered")
        job = Job.fetch(job_id[0], connection=sync)
        assert job.get_status() == JobStatus.STOPPED
        assert job_id[0] in FailedJobRegistry(queue=Queue(settings.queue_name, connection=sync))
    finally:
        sync.close()
    assert await aredis.llen(keyspace.dead_letter_key(TENANT)) == 1
