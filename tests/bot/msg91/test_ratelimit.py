"""The shared per-number send rate limit (GCRA in Redis): spacing, sharing, bounds, keys."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.provider.ratelimit import RateLimitTimeout, SendRateLimiter
from supportbot.settings import load_settings

NUMBER = "919000000001"


def _limiter(
    r: aioredis.Redis, limit: int = 5, period: float = 1.0, burst: int = 1
) -> SendRateLimiter:
    return SendRateLimiter(
        r, tenant_id="acme", integrated_number=NUMBER, limit=limit, period=period, burst=burst
    )


async def test_replicas_share_one_schedule(redis_url: str) -> None:
    """Two 'replicas' (own clients) reserving at once get distinct slots >= period/limit apart."""
    a, b = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        la, lb = _limiter(a), _limiter(b)  # 5/s -> one slot per 0.2 s
        for r in (a, b):  # warm up connections and the script, so `before` is accurate
            warm = SendRateLimiter(r, tenant_id="warm", integrated_number=NUMBER, limit=1000)
            await asyncio.gather(*(warm.reserve() for _ in range(6)))

        async def slot(limiter: SendRateLimiter) -> float:
            before = time.monotonic()
            return before + await limiter.reserve()

        slots = sorted(await asyncio.gather(*(slot(lim) for lim in [la, lb] * 5)))
        gaps = [y - x for x, y in zip(slots, slots[1:], strict=False)]
        assert all(g >= 0.2 - 0.02 for g in gaps), gaps
        assert slots[-1] - slots[0] >= 9 * 0.2 - 0.02
    finally:
        await a.aclose()
        await b.aclose()


async def test_acquire_waits_instead_of_failing(aredis: aioredis.Redis) -> None:
    limiter = _limiter(aredis, limit=10)  # 0.1 s apart
    before = REGISTRY.get_sample_value("supportbot_send_rate_limit_wait_seconds_count") or 0
    started = time.monotonic()
    waits = [await limiter.acquire() for _ in range(5)]
    assert time.monotonic() - started >= 0.4 - 0.01
    assert waits[0] < 0.05 and all(w > 0.03 for w in waits[1:])
    after = REGISTRY.get_sample_value("supportbot_send_rate_limit_wait_seconds_count")
    assert after == before + 5


async def test_no_more_than_limit_in_any_period(aredis: aioredis.Redis) -> None:
    limiter = _limiter(aredis, limit=20, period=1.0)
    slots = []
    for _ in range(60):
        before = time.monotonic()
        slots.append(before + await limiter.reserve())
    slots.sort()
    for i in range(len(slots) - 20):
        assert slots[i + 20] - slots[i] >= 1.0 - 0.02  # the 21st is a full period later


async def test_max_wait_reserves_nothing(aredis: aioredis.Redis) -> None:
    limiter = _limiter(aredis, limit=1, period=10.0)
    assert await limiter.reserve() == pytest.approx(0, abs=0.01)
    with pytest.raises(RateLimitTimeout) as info:
        await limiter.reserve(max_wait=1.0)
    assert 9.0 < info.value.wait <= 10.0
    # the refused call did not take a slot: the next one is ~10 s away, not ~20 s
    assert 9.0 < await limiter.reserve() <= 10.0


async def test_burst_allows_an_initial_batch(aredis: aioredis.Redis) -> None:
    limiter = _limiter(aredis, limit=2, period=1.0, burst=3)
    waits = [await limiter.reserve() for _ in range(5)]
    assert waits[:3] == pytest.approx([0, 0, 0], abs=0.01)
    assert waits[3] == pytest.approx(0.5, abs=0.05)
    assert waits[4] == pytest.approx(1.0, abs=0.05)


async def test_keys_are_per_tenant_and_number(aredis: aioredis.Redis) -> None:
    a = SendRateLimiter(aredis, tenant_id="acme", integrated_number=NUMBER, limit=1, period=60)
    b = SendRateLimiter(aredis, tenant_id="other", integrated_number=NUMBER, limit=1, period=60)
    c = SendRateLimiter(aredis, tenant_id="acme", integrated_number="919000000002", limit=1)
    assert [await x.reserve() for x in (a, b, c)] == pytest.approx([0, 0, 0], abs=0.01)
    assert sorted(await aredis.keys("sb:*")) == [
        b"sb:acme:send-rate:919000000001",
        b"sb:acme:send-rate:919000000002",
        b"sb:other:send-rate:919000000001",
    ]
    ttl = await aredis.pttl("sb:acme:send-rate:919000000001")
    assert 0 < ttl <= 61_000


async def test_from_settings_uses_the_per_minute_limit(
    redis_url: str, aredis: aioredis.Redis
) -> None:
    settings = load_settings(
        {
            "SUPPORTBOT_TENANT_ID": "acme",
            "SUPPORTBOT_INTEGRATED_NUMBER": NUMBER,
            "SUPPORTBOT_WEBHOOK_SECRET": "x",
            "SUPPORTBOT_REDIS_URL": redis_url,
            "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/x",
        }
    )
    limiter = SendRateLimiter.from_settings(aredis, settings)
    assert limiter.interval_us == 600_000  # 100/min default
    assert limiter.key == "sb:acme:send-rate:919000000001"
