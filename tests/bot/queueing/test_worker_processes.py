"""Worker processes: ordering across replicas, 1,000 concurrent turns in one process, SIGKILL
takeover with exactly one reply, SIGTERM hand-back, and `rq info` showing it all."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from supportbot import keyspace
from supportbot.queueing import rqjobs
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.testing import (
    TENANT,
    WorkerProcess,
    make_message,
    recorded_replies,
    recorded_starts,
    recorded_turns,
    wait_until,
)
from supportbot.settings import BotSettings
from supportbot_dev.procs import free_port

SettingsFactory = Callable[..., BotSettings]
Spawn = Callable[..., WorkerProcess]
QUEUE = f"supportbot-{TENANT}"

pytestmark = pytest.mark.slow


async def _registered(r: aioredis.Redis, n: int) -> None:
    async def enough() -> bool:
        return int(await r.scard(f"rq:workers:{QUEUE}")) >= n

    await wait_until(enough, 30, f"{n} registered worker(s)")


async def _idle(r: aioredis.Redis) -> bool:
    return int(await r.scard(keyspace.active_key(TENANT))) == 0


def _max_overlap(turns: list[dict[str, float]]) -> int:
    events = sorted([(t["start"], 1) for t in turns] + [(t["end"], -1) for t in turns])
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


async def _rq_info(redis_url: str) -> str:
    """`rq info --raw` from rq's own CLI."""
    rq = Path(sys.executable).with_name("rq")
    out = await asyncio.to_thread(
        subprocess.run,
        [str(rq), "info", "-u", redis_url, "--raw"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(out.stdout)


async def test_rapid_messages_become_one_ordered_sequence_of_turns(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    workers: Spawn,
    make_settings: SettingsFactory,
) -> None:
    knobs = {"coalesce_window_seconds": 0.4, "coalesce_max_wait_seconds": 1.2}
    w1 = workers(extra_env={"SB_TEST_SLEEP": "0.2,0.5"}, **knobs)
    w2 = workers(extra_env={"SB_TEST_SLEEP": "0.2,0.5"}, **knobs)
    await _registered(aredis, 2)
    ingestor = Ingestor(aredis, make_settings(**knobs), pipeline=pipelined)
    customers = ["919840000001", "919840000002", "919840000003"]
    for seq in range(20):
        for customer in customers:
            await ingestor.accept(make_message(customer, seq), b"{}")
        await asyncio.sleep(random.uniform(0.05, 0.25))
    await wait_until(lambda: _idle(aredis), 60, "all conversations idle")

    turns = await recorded_turns(aredis)
    for customer in customers:
        mine = sorted((t for t in turns if t["customer"] == customer), key=lambda t: t["start"])
        texts = [x for t in mine for x in t["texts"]]
        assert texts == [f"m{i}" for i in range(20)], "every message once, in arrival order"
        for before, after in zip(mine, mine[1:], strict=False):
            assert after["start"] >= before["end"], "one turn at a time per customer"
        assert 1 < len(mine) < 20, "bursts are coalesced, bounded by the max wait"
        assert all(t["attempt"] == 1 for t in mine)
    assert {t["pid"] for t in turns} == {w1.pid, w2.pid}, "both replicas took turns"
    assert len(await recorded_replies(aredis)) == len(turns)


async def test_one_process_runs_1000_conversations_concurrently(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    workers: Spawn,
    make_settings: SettingsFactory,
) -> None:
    n = 1000
    knobs = {"coalesce_window_seconds": 0, "coalesce_max_wait_seconds": 0}
    # Turns of at least 8 s: every turn started in the last 8 s is still running, so the overlap
    # measures the worker's concurrency, not how fast a loaded (or traced, `make coverage`) 2-core
    # machine dequeues 1,000 jobs (with 2-10 s turns the overlap fell to 487 under coverage).
    worker = workers(extra_env={"SB_TEST_SLEEP": "8,12"}, worker_concurrency=n, **knobs)
    await _registered(aredis, 1)
    idle_rss = worker.rss_kb()
    ingestor = Ingestor(aredis, make_settings(**knobs), pipeline=pipelined)
    started = time.monotonic()
    for chunk in range(0, n, 100):
        await asyncio.gather(
            *(
                ingestor.accept(make_message(f"91985{i:07d}", 0), b"{}")
                for i in range(chunk, chunk + 100)
            )
        )
    peak_rss = 0

    async def all_replied() -> bool:
        nonlocal peak_rss
        peak_rss = max(peak_rss, worker.rss_kb())
        return int(await aredis.llen(f"sb:{TENANT}:test:replies")) >= n

    await wait_until(all_replied, 120, "1,000 replies")
    wall = time.monotonic() - started
    await wait_until(lambda: _idle(aredis), 30, "all conversations idle")

    replies = await recorded_replies(aredis)
    assert len(replies) == n
    assert len({r["customer"] for r in replies}) == n, "nothing lost, nothing doubled"
    assert {r["pid"] for r in replies} == {worker.pid}
    overlap = _max_overlap(await recorded_turns(aredis))
    assert overlap >= n // 2, f"turns ran concurrently (max overlap {overlap})"
    info = await _rq_info(redis_url)
    assert f"queue {QUEUE} 0, 0 executing, {n} finished, 0 failed" in info
    print(
        f"\n1,000 conversations x 8-12 s turns, one worker: wall {wall:.1f} s, "
        f"max concurrent turns {overlap}, RSS idle {idle_rss / 1024:.1f} MB, "
        f"peak {peak_rss / 1024:.1f} MB"
    )


async def test_sigkill_mid_turn_resumes_elsewhere_with_exactly_one_reply(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    workers: Spawn,
    make_settings: SettingsFactory,
) -> None:
    knobs = {"lease_seconds": 2, "coalesce_window_seconds": 0, "coalesce_max_wait_seconds": 0}
    env = {"SB_TEST_SLEEP": "3,3"}
    victim = workers(extra_env=env, **knobs)
    await _registered(aredis, 1)
    await Ingestor(aredis, make_settings(**knobs), pipeline=pipelined).accept(
        make_message("919850000001", 0), b"{}"
    )

    async def started() -> bool:
        return len(await recorded_starts(aredis)) == 1

    await wait_until(started, 20, "the turn to start")
    sync = redis.Redis.from_url(redis_url)
    registry = StartedJobRegistry(queue=Queue(QUEUE, connection=sync))
    (victim_job,) = await asyncio.to_thread(registry.get_job_ids)
    port = free_port()
    survivor = workers(extra_env=env, metrics_port=port, **knobs)
    await _registered(aredis, 2)
    os.kill(victim.pid, signal.SIGKILL)
    await asyncio.to_thread(victim.proc.wait, 10)

    async def replied() -> bool:
        return len(await recorded_replies(aredis)) >= 1

    await wait_until(replied, 30, "the resumed turn's reply")

    async def settled() -> bool:
        # Idle is terminal here: another run of the turn needs the conversation back in
        # `active` or a drain job in the queue (the victim's abandoned job is checked below).
        return await _idle(aredis) and int(await aredis.llen(jobhash.queue_key(QUEUE))) == 0

    await wait_until(settled, 10, "conversation idle, no drain queued")

    starts = await recorded_starts(aredis)
    replies = await recorded_replies(aredis)
    assert len(replies) == 1
    assert starts[0]["pid"] == victim.pid
    assert replies[0]["pid"] == survivor.pid
    assert replies[0]["turn_id"] == starts[0]["turn_id"], "the same turn, same id"
    assert replies[0]["attempt"] >= 2
    assert {s["turn_id"] for s in starts} == {starts[0]["turn_id"]}
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert "supportbot_worker_lease_takeovers_total 1.0" in metrics
    assert 'supportbot_worker_turns_total{outcome="success"} 1.0' in metrics

    # rq's own abandoned-job handling (normally after the heartbeat TTL, ~70 s): the victim's
    # job is retried, finds the conversation idle, and sends nothing twice.
    try:
        assert victim_job in await asyncio.to_thread(registry.get_job_ids, 0, -1, False, False)
        await asyncio.to_thread(registry.cleanup, time.time() + 3600)
        job = await asyncio.to_thread(Job.fetch, victim_job, sync)

        async def retried_and_finished() -> bool:
            return await asyncio.to_thread(job.get_status) == JobStatus.FINISHED

        await wait_until(retried_and_finished, 20, "the abandoned job's retry")
        assert job.retries_left == rqjobs.DRAIN_RETRIES - 1
    finally:
        sync.close()
    assert len(await recorded_replies(aredis)) == 1


async def test_sigterm_finishes_short_turns_and_hands_back_long_ones(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    workers: Spawn,
    make_settings: SettingsFactory,
) -> None:
    knobs = {
        "shutdown_grace_seconds": 3,
        "coalesce_window_seconds": 0,
        "coalesce_max_wait_seconds": 0,
    }
    first = workers(**knobs)
    await _registered(aredis, 1)
    ingestor = Ingestor(aredis, make_settings(**knobs), pipeline=pipelined)
    short = [f"91986000000{i}" for i in range(4)]
    long = [f"91987000000{i}" for i in range(4)]
    for customer in short:
        await ingestor.accept(make_message(customer, 0, text="sleep:1.5"), b"{}")
    for customer in long:
        await ingestor.accept(make_message(customer, 0, text="sleep:30"), b"{}")

    async def all_started() -> bool:
        return len(await recorded_starts(aredis)) == 8

    await wait_until(all_started, 20, "8 turns to start")
    info = await _rq_info(redis_url)
    assert f"queue {QUEUE} 0, 8 executing, 0 finished, 0 failed" in info
    assert any(
        line.startswith("worker sb-acme-") and " busy " in line for line in info.splitlines()
    ), info

    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.proc.wait, 30) == 0
    replies = await recorded_replies(aredis)
    assert sorted(r["customer"] for r in replies) == short, "in-flight short turns finished"
    assert await aredis.llen(jobhash.queue_key(QUEUE)) == 4, "long turns handed back"
    assert await aredis.scard(f"rq:workers:{QUEUE}") == 0, "the worker registered its death"
    for customer in long:
        conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(customer))
        assert await aredis.llen(conv.processing) == 1, "the message stays in the mailbox"
    info = await _rq_info(redis_url)
    assert f"queue {QUEUE} 4, 0 executing, 4 finished, 0 failed" in info
    assert not [line for line in info.splitlines() if line.startswith("worker ")], info

    second = workers(extra_env={"SB_TEST_MAX_SLEEP": "0.1"}, **knobs)

    async def all_replied() -> bool:
        return len(await recorded_replies(aredis)) == 8

    await wait_until(all_replied, 30, "the handed-back turns")
    await wait_until(lambda: _idle(aredis), 10, "conversations idle")
    replies = await recorded_replies(aredis)
    resumed = [r for r in replies if r["customer"] in long]
    assert {r["pid"] for r in resumed} == {second.pid}
    assert all(r["attempt"] == 2 for r in resumed)
    assert len({r["turn_id"] for r in replies}) == 8, "exactly one reply per turn"


async def test_second_signal_hands_back_at_once(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    workers: Spawn,
    make_settings: SettingsFactory,
) -> None:
    knobs = {
        "shutdown_grace_seconds": 120,
        "coalesce_window_seconds": 0,
        "coalesce_max_wait_seconds": 0,
    }
    first = workers(extra_env={"SUPPORTBOT_LOG_LEVEL": "INFO"}, **knobs)  # logs the stop request
    await _registered(aredis, 1)
    ingestor = Ingestor(aredis, make_settings(**knobs), pipeline=pipelined)
    for i in range(3):
        await ingestor.accept(make_message(f"91988000000{i}", 0, text="sleep:60"), b"{}")

    async def all_started() -> bool:
        return len(await recorded_starts(aredis)) == 3

    await wait_until(all_started, 20, "3 turns to start")
    first.proc.send_signal(signal.SIGTERM)

    async def shutting_down() -> bool:
        return "warm shutdown: no new jobs" in first.log_text()

    await wait_until(shutting_down, 10, "the first signal's warm shutdown")
    assert first.proc.poll() is None, "the first signal waits for in-flight turns"
    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.proc.wait, 30) == 0
    assert await recorded_replies(aredis) == []

    workers(extra_env={"SB_TEST_MAX_SLEEP": "0.1"}, **knobs)

    async def all_replied() -> bool:
        return len(await recorded_replies(aredis)) == 3

    await wait_until(all_replied, 30, "the handed-back turns")
