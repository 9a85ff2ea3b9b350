"""Pool sizing from settings, acquire timeout, time conversion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from supportbot.settings import load_settings
from supportbot.storage import db


async def test_pool_follows_the_settings_and_the_seed_limits(migrated_url: str) -> None:
    settings = load_settings(
        {
            "SUPPORTBOT_TENANT_ID": "acme",
            "SUPPORTBOT_INTEGRATED_NUMBER": "919000000000",
            "SUPPORTBOT_WEBHOOK_SECRET": "s",
            "SUPPORTBOT_REDIS_URL": "redis://127.0.0.1:1/0",
            "DATABASE_URL": migrated_url,
            "SUPPORTBOT_DATABASE_POOL_MIN": "2",
            "SUPPORTBOT_DATABASE_POOL_MAX": "3",
        }
    )
    pool = await db.create_pool_from_settings(settings)
    try:
        assert (pool.get_min_size(), pool.get_max_size()) == (2, 3)
        assert pool.get_size() == 2, "min_size connections are opened up front"
        async with db.connection(pool) as conn:
            value = await conn.fetchval("SELECT $1::jsonb", {"a": [1, "é"]})
        assert value == {"a": [1, "é"]}, "jsonb round-trips as Python objects"
    finally:
        await pool.close()
    assert (db.POOL_MAX_SIZE, db.POOL_MIN_SIZE) == (20, 5)
    assert (db.POOL_IDLE_SECONDS, db.ACQUIRE_TIMEOUT_SECONDS) == (10.0, 60.0)


async def test_acquire_waits_at_most_the_timeout(migrated_url: str) -> None:
    pool = await db.create_pool(migrated_url, min_size=1, max_size=1)
    try:
        async with db.connection(pool):
            with pytest.raises(asyncio.TimeoutError):
                async with db.connection(pool, wait_seconds=0.2):
                    pass
    finally:
        await pool.close()


def test_to_datetime() -> None:
    assert db.to_datetime(0.5) == datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    ist = timezone(timedelta(hours=5, minutes=30))
    converted = db.to_datetime(datetime(2026, 1, 1, 5, 30, tzinfo=ist))
    assert converted == datetime(2026, 1, 1, tzinfo=UTC) and converted.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        db.to_datetime(datetime(2026, 1, 1))
    assert db.maybe_datetime(None) is None
    assert abs((db.to_datetime(None) - datetime.now(UTC)).total_seconds()) < 60
