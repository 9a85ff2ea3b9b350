"""The worker's periodic duties while it runs: heartbeats with queue metrics, Redis durability
checks and rq's registry maintenance.

- Heartbeat (every `monitoring_interval`): the worker's and every in-flight execution's rq
  heartbeat in one batch, then queue depth, pending conversations, dead letters and the age of
  the queue's head as metrics; ``supportbot_worker_last_beat`` marks it alive.
- Redis durability (`persistence`): read at start and every `PERSISTENCE_CHECK_SECONDS`.
- Maintenance (every `maintenance_interval`): rq's `clean_registries` (abandoned jobs).
Both loops end when the worker closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.rqbridge import RqBridge
from supportbot.queueing.jobrunner import Bookkeeping, InFlight
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.persistence import PersistenceWatch
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)
PERSISTENCE_CHECK_SECONDS = 60.0
"""How often the worker re-reads Redis' persistence settings (a warning when not durable)."""


class Upkeep:
    def __init__(
        self,
        settings: BotSettings,
        redis_client: aioredis.Redis,
        bridge: RqBridge,
        bookkeeping: Bookkeeping,
        metrics: WorkerMetrics,
        in_flight: InFlight,
        closing: asyncio.Event,
        *,
        monitoring_interval: float,
        maintenance_interval: float,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.bridge = bridge
        self.metrics = metrics
        self._bookkeeping = bookkeeping
        self._in_flight = in_flight
        self._closing = closing
        self._persistence = PersistenceWatch("worker")
        self._monitoring_interval = monitoring_interval
        self._maintenance_interval = maintenance_interval

    async def _check_persistence(self) -> None:
        try:
            state = await self._persistence.check(self.redis)
        except Exception as exc:
            log.warning("could not read Redis persistence settings: %s", type(exc).__name__)
            return
        self.metrics.redis_durable.set(1 if state.durable else 0)
        self.metrics.redis_persistence = state.describe()

    async def heartbeat_loop(self) -> None:
        queue_key = jobhash.queue_key(self.settings.queue_name)
        next_persistence_check = 0.0
        while not self._closing.is_set():
            if time.monotonic() >= next_persistence_check:
                await self._check_persistence()
                next_persistence_check = time.monotonic() + PERSISTENCE_CHECK_SECONDS
            try:
                slots = list(self._in_flight.slots.values())
                await self._bookkeeping.call(
                    self.bridge.heartbeat, slots, busy=bool(self._in_flight.jobs)
                )
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.llen(queue_key)
                    pipe.scard(keyspace.active_key(self.settings.tenant_id))
                    pipe.llen(keyspace.dead_letter_key(self.settings.tenant_id))
                    depth, pending, dead = await pipe.execute()
                self.metrics.queue_depth.set(int(depth))
                self.metrics.conversations_pending.set(int(pending))
                self.metrics.dead_letters.set(int(dead))
                oldest = await jobhash.head_age_seconds(self.redis, self.settings.queue_name)
                self.metrics.queue_oldest_age.set(oldest)
                self.metrics.beat()
            except Exception:
                log.exception("heartbeat failed")
            await self._pause(self._monitoring_interval)

    async def maintenance_loop(self) -> None:
        while not self._closing.is_set():
            try:
                await self._bookkeeping.call(self.bridge.maintain)
            except Exception:
                log.exception("rq maintenance failed")
            await self._pause(self._maintenance_interval)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up (and let the loop end) when the worker closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
