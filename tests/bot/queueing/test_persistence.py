"""Redis durability is detected and reported (real Redis, AOF switched at run time)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.queueing.persistence import RedisPersistence, parse, probe
from supportbot.settings import load_settings
from supportbot.webhook import testing as t
from supportbot.webhook.app import METRICS_PATH, READY_PATH, create_app


@pytest.fixture
async def aof(aredis: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """The test Redis; its appendonly/appendfsync settings are restored afterwards."""
    before = await aredis.config_get("appendonly")
    fsync = await aredis.config_get("appendfsync")
    yield aredis
    await aredis.config_set("appendfsync", str(fsync["appendfsync"]))
    await aredis.config_set("appendonly", str(before["appendonly"]))


@pytest.mark.parametrize(
    ("info", "fsync", "durable", "says"),
    [
        ({"aof_enabled": 1, "aof_last_write_status": "ok"}, "everysec", True, "aof everysec"),
        ({"aof_enabled": 1, "aof_last_write_status": "ok"}, "always", True, "aof always"),
        ({"aof_enabled": 1, "aof_last_write_status": "ok"}, None, True, "aof (appendfsync"),
        ({"aof_enabled": 1, "aof_last_write_status": "ok"}, "no", False, "weak"),
        ({"aof_enabled": 1, "aof_last_write_status": "err"}, "everysec", False, "failing"),
        ({"aof_enabled": 0}, "everysec", False, "off"),
        ({}, None, False, "unknown"),
    ],
)
def test_verdicts(info: dict[str, object], fsync: str | None, durable: bool, says: str) -> None:
    state = parse(info, fsync)
    assert state.durable is durable
    assert state.describe().startswith(says)


async def test_probe_reads_the_live_setting(aof: aioredis.Redis) -> None:
    await aof.config_set("appendonly", "no")
    assert await probe(aof) == RedisPersistence(aof=False, fsync="everysec", aof_write_ok=True)
    await aof.config_set("appendonly", "yes")
    state = await probe(aof)
    assert state.aof is True and state.durable


async def test_webhook_reports_a_redis_without_persistence(
    aof: aioredis.Redis,
    redis_url: str,
    postgres_server_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await aof.config_set("appendonly", "no")
    settings = load_settings(t.settings_env(redis_url, postgres_server_url))
    app = create_app(settings, readiness_ttl=0.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            ready = await client.get(READY_PATH)
            assert ready.status_code == 200, "a warning, not a stop"
            assert ready.json()["checks"]["redis_persistence"].startswith("off")
            assert (
                "supportbot_redis_persistence_durable 0.0" in (await client.get(METRICS_PATH)).text
            )
            await aof.config_set("appendonly", "yes")
            ready = await client.get(READY_PATH)
            assert ready.json()["checks"]["redis_persistence"].startswith("aof")
            assert (
                "supportbot_redis_persistence_durable 1.0" in (await client.get(METRICS_PATH)).text
            )
    assert any("Redis persistence is off" in r.getMessage() for r in caplog.records)
