"""Per-integrated-number send rate limit shared by all replicas (Redis GCRA, reservation style).

One Lua call reserves the next free slot and returns how long to wait for it, so callers WAIT
(asyncio.sleep) instead of failing, in FIFO order of their calls, with one round trip each. The
script uses Redis' clock (``TIME``), so replicas with skewed clocks still share one schedule.

Guarantee: with ``burst=1`` consecutive grants are at least ``period/limit`` apart, so any
half-open window of length `period` holds at most `limit` grants; a larger `burst` allows
``burst - 1`` extra sends up front. A caller cancelled while waiting forfeits its slot (capacity
is lost, the limit is never exceeded).
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.msg91.errors import DeliveryError
from supportbot.provider import metrics
from supportbot.settings import BotSettings

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = (tonumber(ARGV[2]) - 1) * interval
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tau - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then
  return {0, string.format('%.0f', wait)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', string.format('%.0f', math.ceil((new_tat - now) / 1000) + 1000))
return {1, string.format('%.0f', wait)}
"""


class RateLimitTimeout(DeliveryError):
    """The next free slot is further away than the caller's `max_wait`; nothing was reserved."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"send rate limit: next slot in {wait:.1f} s")


class SendRateLimiter:
    """`limit` sends per `period` seconds for one (tenant, integrated number)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        tenant_id: str,
        integrated_number: str,
        limit: int,
        period: float = 60.0,
        burst: int = 1,
    ) -> None:
        if limit < 1 or period <= 0 or burst < 1:
            raise ValueError("limit >= 1, period > 0 and burst >= 1 required")
        self.key = keyspace.send_rate_key(tenant_id, integrated_number)
        self.interval_us = round(period * 1_000_000 / limit)
        self.burst = burst
        self._redis = redis
        self._script = redis.register_script(_GCRA)

    @classmethod
    def from_settings(cls, redis: aioredis.Redis, settings: BotSettings) -> SendRateLimiter:
        return cls(
            redis,
            tenant_id=settings.tenant_id,
            integrated_number=settings.integrated_number,
            limit=settings.send_rate_limit_per_minute,
        )

    async def reserve(self, max_wait: float | None = None) -> float:
        """Reserve the next slot; return the seconds until it (no sleeping)."""
        max_us = -1 if max_wait is None else round(max_wait * 1_000_000)
        granted, wait_us = await self._script(
            keys=[self.key], args=[self.interval_us, self.burst, max_us]
        )
        wait = int(wait_us) / 1_000_000
        if not int(granted):
            raise RateLimitTimeout(wait)
        return wait

    async def acquire(self, max_wait: float | None = None) -> float:
        """Wait until this caller may send; return the seconds waited (also a metric)."""
        started = time.monotonic()
        wait = await self.reserve(max_wait)
        if wait > 0:
            await asyncio.sleep(wait)
        waited = time.monotonic() - started
        metrics.RATE_LIMIT_WAIT_SECONDS.observe(waited)
        return waited
