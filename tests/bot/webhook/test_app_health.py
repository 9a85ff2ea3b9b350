"""Liveness, readiness (real Redis + PostgreSQL, cached) and behaviour while Redis is down."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis

from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import HEALTH_PATH, INBOUND_PATH, METRICS_PATH, READY_PATH
from supportbot.webhook.readiness import ReadinessProbe

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get(HEALTH_PATH)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_ready_with_real_redis_and_postgres(
    make_settings: SettingsFactory, make_client: ClientFactory, database_url: str
) -> None:
    client = await make_client(make_settings(database_url=database_url))
    response = await client.get(READY_PATH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["redis"] == "ok" and body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis_persistence"].startswith(("aof", "off"))


async def test_not_ready_when_redis_is_unreachable(
    make_settings: SettingsFactory, make_client: ClientFactory, database_url: str
) -> None:
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{closed_port()}/0", database_url=database_url
    )
    client = await make_client(settings, readiness_timeout=1.0)
    response = await client.get(READY_PATH)
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("down: ")
    # Liveness does not depend on Redis.
    assert (await client.get(HEALTH_PATH)).status_code == 200


async def test_still_ready_when_postgres_is_unreachable_and_it_says_so(
    make_settings: SettingsFactory, make_client: ClientFactory
) -> None:
    """Acknowledging needs only Redis: a PostgreSQL outage must not take the webhook out of its
    Service (messages wait in Redis for the workers)."""
    url = f"postgresql://nobody:secretpw@127.0.0.1:{closed_port()}/nowhere"
    client = await make_client(make_settings(database_url=url), readiness_timeout=1.0)
    response = await client.get(READY_PATH)
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["redis"] == "ok" and checks["postgres"].startswith("down: ")
    assert "secretpw" not in response.text


async def test_redis_down_on_the_ack_path_is_503_json(
    make_settings: SettingsFactory, make_client: ClientFactory
) -> None:
    client = await make_client(make_settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0"))
    body = t.encode(t.msg91_text())
    response = await client.post(INBOUND_PATH, content=body, headers=t.headers())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    status = await client.post(
        INBOUND_PATH, content=t.encode(t.msg91_status()), headers=t.headers()
    )
    assert status.status_code == 503
    assert "store_unavailable" in (await client.get(METRICS_PATH)).text


async def test_probe_result_is_cached_for_its_ttl(redis_url: str) -> None:
    url = f"postgresql://x:y@127.0.0.1:{closed_port()}/z"
    client = aioredis.Redis.from_url(redis_url)
    try:
        cached = ReadinessProbe(client, url, ttl=60.0, timeout=1.0)
        first = await cached.check()
        assert await cached.check() is first
        uncached = ReadinessProbe(client, url, ttl=0.0, timeout=1.0)
        one = await uncached.check()
        two = await uncached.check()
        assert one is not two and one == two
    finally:
        await client.aclose()
