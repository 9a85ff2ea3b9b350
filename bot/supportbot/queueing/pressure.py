"""Worker pressure probes: event-loop lag, Redis command latency and connection-pool occupancy.

Lease renewals are only as punctual as the event loop and the Redis pool let them be, so the
worker watches both: every `PROBE_INTERVAL` seconds it measures how late a timer fires (loop
lag) and how long one PING takes through the shared pool (pool wait + round trip). Both go to
histograms; a probe slower than `SLOW_SECONDS` is logged with the pool's occupancy, so a lost
lease can be matched to its cause in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from supportbot.queueing.metrics import WorkerMetrics

log = logging.getLogger(__name__)

PROBE_INTERVAL = 0.5
SLOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class PoolState:
    max_connections: int
    in_use: int
    waiting: int
    """Coroutines waiting for a connection (BlockingConnectionPool only; else 0)."""


def pool_state(client: aioredis.Redis) -> PoolState:
    """Occupancy of `client`'s connection pool (best effort: redis-py internals)."""
    pool: Any = client.connection_pool
    in_use = len(getattr(pool, "_in_use_connections", ()))
    condition = getattr(pool, "_condition", None)
    waiters = getattr(condition, "_waiters", None) if condition is not None else None
    return PoolState(int(getattr(pool, "max_connections", 0)), in_use, len(waiters or ()))


async def probe_loop(
    client: aioredis.Redis, metrics: WorkerMetrics, closing: asyncio.Event
) -> None:
    """Measure loop lag and Redis latency until `closing` is set."""
    loop = asyncio.get_running_loop()
    while not closing.is_set():
        due = loop.time() + PROBE_INTERVAL
        await asyncio.sleep(PROBE_INTERVAL)
        lag = max(0.0, loop.time() - due)
        metrics.loop_lag_seconds.observe(lag)
        started = time.monotonic()
        try:
            await client.ping()
        except Exception as exc:  # a pool timeout is exactly what we want to see
            log.warning("redis probe failed: %s (%s)", type(exc).__name__, pool_state(client))
            continue
        took = time.monotonic() - started
        metrics.redis_probe_seconds.observe(took)
        state = pool_state(client)
        metrics.redis_pool_in_use.set(state.in_use)
        metrics.redis_pool_waiting.set(state.waiting)
        if lag > SLOW_SECONDS or took > SLOW_SECONDS:
            log.warning(
                "worker under pressure: loop lag %.2fs, redis ping %.2fs, pool %d/%d in use, "
                "%d waiting",
                lag,
                took,
                state.in_use,
                state.max_connections,
                state.waiting,
            )
