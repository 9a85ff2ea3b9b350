"""Helpers for tests and load tests of the queue: settings, messages and test turn handlers.

The handler factories here are real `TurnHandler`s that record what they saw in Redis, so tests
can run them inside real `supportbot worker` subprocesses (``--handler
supportbot.queueing.testing:recording_handler``) and inspect the results afterwards.

Environment knobs of the recording handler (read once by the factory):
  SB_TEST_SLEEP="a,b"   sleep uniformly between a and b seconds per turn (default 0);
                        a message text "sleep:X" makes its turn sleep X seconds instead
  SB_TEST_MAX_SLEEP=x   never sleep longer than x seconds (a fast second worker)
  SB_TEST_FAIL=1        raise on every turn (retry / dead-letter tests)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import InboundMessage, MessageKind, Turn, TurnHandler
from supportbot.queueing.worker import AsyncWorker, WorkerTuning
from supportbot.settings import BotSettings

TENANT = "acme"
FAST_TUNING = WorkerTuning(monitoring_interval=1, maintenance_interval=2.0)


class InjectedFailure(RuntimeError):
    """Raised by the recording handler when SB_TEST_FAIL is set."""


def settings_env(redis_url: str, **overrides: object) -> dict[str, str]:
    """A complete SUPPORTBOT_* environment for a test tenant; overrides by field name."""
    env = {
        "SUPPORTBOT_TENANT_ID": TENANT,
        "SUPPORTBOT_INTEGRATED_NUMBER": "919100000001",
        "SUPPORTBOT_WEBHOOK_SECRET": "test-secret",
        "SUPPORTBOT_REDIS_URL": redis_url,
        "SUPPORTBOT_DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",
        "SUPPORTBOT_LOG_LEVEL": "WARNING",
    }
    env.update({f"SUPPORTBOT_{name.upper()}": str(value) for name, value in overrides.items()})
    return env


def make_message(
    customer: str,
    seq: int,
    *,
    tenant: str = TENANT,
    text: str | None = None,
    message_id: str | None = None,
    received_at: float | None = None,
) -> InboundMessage:
    return InboundMessage(
        tenant_id=tenant,
        customer_id=customer,
        message_id=message_id or f"wamid.{customer}.{seq}",
        kind=MessageKind.TEXT,
        received_at=time.time() if received_at is None else received_at,
        phone=customer,
        text=f"m{seq}" if text is None else text,
    )


def turns_key(tenant_id: str) -> str:
    """LIST of JSON records, one per handled attempt (see `RecordingHandler`)."""
    return f"{keyspace.tenant_prefix(tenant_id)}test:turns"


def started_key(tenant_id: str) -> str:
    """LIST of JSON {turn_id, pid, attempt}, pushed when a handler attempt starts."""
    return f"{keyspace.tenant_prefix(tenant_id)}test:started"


def replies_key(tenant_id: str) -> str:
    """LIST of JSON records, one per reply actually sent (idempotent on turn_id)."""
    return f"{keyspace.tenant_prefix(tenant_id)}test:replies"


class RecordingHandler:
    """Records every attempt, sleeps, then "sends" exactly one reply per turn_id."""

    def __init__(
        self,
        redis: aioredis.Redis,
        sleep: tuple[float, float],
        fail: bool,
        pid: int,
        max_sleep: float | None = None,
    ) -> None:
        self._redis = redis
        self._sleep = sleep
        self._fail = fail
        self._pid = pid
        self._max_sleep = max_sleep

    def _record(self, turn: Turn, started: float) -> str:
        return json.dumps(
            {
                "turn_id": turn.turn_id,
                "customer": turn.customer_id,
                "attempt": turn.attempt,
                "texts": [m.text for m in turn.messages],
                "ids": [m.message_id for m in turn.messages],
                "throttled": [m.throttled for m in turn.messages],
                "notice": [m.throttle_notice for m in turn.messages],
                "pid": self._pid,
                "start": started,
                "end": time.time(),
            }
        )

    def _pause(self, turn: Turn) -> float:
        pause = 0.0
        low, high = self._sleep
        if high > 0:
            pause = random.uniform(low, high)  # noqa: S311 - test timing only
        for message in turn.messages:
            if message.text and message.text.startswith("sleep:"):
                pause = float(message.text.removeprefix("sleep:"))
        return pause if self._max_sleep is None else min(pause, self._max_sleep)

    async def handle_turn(self, turn: Turn) -> None:
        started = time.time()
        mark = {"turn_id": turn.turn_id, "pid": self._pid, "attempt": turn.attempt}
        await self._redis.rpush(started_key(turn.tenant_id), json.dumps(mark))
        pause = self._pause(turn)
        if pause > 0:
            await asyncio.sleep(pause)
        if self._fail:
            raise InjectedFailure(f"injected failure for {turn.turn_id}")
        record = self._record(turn, started)
        await self._redis.rpush(turns_key(turn.tenant_id), record)
        marker = keyspace.sent_key(turn.tenant_id, turn.turn_id)
        if await self._redis.set(marker, "sent", nx=True, ex=3600):
            await self._redis.rpush(replies_key(turn.tenant_id), record)


def _sleep_range(env: Mapping[str, str]) -> tuple[float, float]:
    raw = env.get("SB_TEST_SLEEP", "")
    if not raw:
        return (0.0, 0.0)
    low, _, high = raw.partition(",")
    return (float(low), float(high or low))


@asynccontextmanager
async def recording_handler(
    settings: BotSettings, redis: aioredis.Redis
) -> AsyncIterator[TurnHandler]:
    """Handler factory (see `supportbot.queueing.handler_factory.HandlerFactory`)."""
    env = os.environ
    cap = env.get("SB_TEST_MAX_SLEEP")
    yield RecordingHandler(
        redis,
        _sleep_range(env),
        env.get("SB_TEST_FAIL") == "1",
        os.getpid(),
        float(cap) if cap else None,
    )


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float, what: str = "condition"
) -> None:
    """Poll `predicate` every 50 ms; raise TimeoutError naming `what` after `within` s."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def recorded_turns(redis: aioredis.Redis, tenant_id: str = TENANT) -> list[dict[str, Any]]:
    return [json.loads(r) for r in await redis.lrange(turns_key(tenant_id), 0, -1)]


async def recorded_starts(redis: aioredis.Redis, tenant_id: str = TENANT) -> list[dict[str, Any]]:
    return [json.loads(r) for r in await redis.lrange(started_key(tenant_id), 0, -1)]


async def recorded_replies(redis: aioredis.Redis, tenant_id: str = TENANT) -> list[dict[str, Any]]:
    return [json.loads(r) for r in await redis.lrange(replies_key(tenant_id), 0, -1)]


@asynccontextmanager
async def background_worker(
    settings: BotSettings,
    redis: aioredis.Redis,
    handler: TurnHandler,
    tuning: WorkerTuning | None = None,
) -> AsyncIterator[AsyncWorker]:
    """An `AsyncWorker` running in this event loop; stopped (warm) on exit."""
    worker = AsyncWorker(settings, redis, handler, tuning=tuning or FAST_TUNING)
    task = asyncio.create_task(worker.run())

    async def registered() -> bool:
        if task.done():
            task.result()
        return bool(await redis.sismember("rq:workers", f"rq:worker:{worker.name}"))

    await wait_until(registered, 20, "worker registration")
    try:
        yield worker
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 60)


RECORDING_HANDLER = "supportbot.queueing.testing:recording_handler"


@dataclass
class WorkerProcess:
    """A `supportbot worker` subprocess started by a test."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        """Resident set size from `ps -o rss=` (0 once the process is gone)."""
        out = subprocess.run(
            ["ps", "-o", "rss=", "-p", str(self.pid)], capture_output=True, text=True, check=False
        )
        return int(out.stdout.strip() or 0)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def spawn_worker(
    redis_url: str,
    log_path: Path,
    *,
    handler: str = RECORDING_HANDLER,
    metrics_port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    **overrides: object,
) -> WorkerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(settings_env(redis_url, **overrides))
    if metrics_port is not None:
        env["SUPPORTBOT_METRICS_PORT"] = str(metrics_port)
    env.update(extra_env or {})
    argv = [sys.executable, "-m", "supportbot.cli", "worker", "--handler", handler]
    argv += ["--metrics-addr", "127.0.0.1"] if metrics_port is not None else ["--no-metrics"]
    log_file = log_path.open("ab")
    try:
        proc = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    finally:
        log_file.close()
    return WorkerProcess(proc, log_path, metrics_port)
