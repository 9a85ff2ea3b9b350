"""Fixtures of the webhook tests: settings for the test tenant and clients of the real app.

Clients drive the real FastAPI app (lifespan included, so it owns a real Redis pool) through
`httpx.ASGITransport`. Settings point at the per-test Redis; PostgreSQL is the session server
(only the readiness tests need a database and request `database_url` themselves).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from supportbot.settings import BotSettings, load_settings
from supportbot.webhook.app import create_app
from supportbot.webhook.testing import settings_env

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def make_settings(redis_url: str, postgres_server_url: str) -> SettingsFactory:
    def make(**overrides: Any) -> BotSettings:
        database = overrides.pop("database_url", postgres_server_url)
        redis = overrides.pop("redis_url", redis_url)
        return load_settings(settings_env(redis, database, **overrides))

    return make


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    async with AsyncExitStack() as stack:

        async def make(settings: BotSettings, **app_options: Any) -> httpx.AsyncClient:
            app = create_app(settings, **app_options)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://webhook.test")
            return await stack.enter_async_context(client)

        yield make


@pytest.fixture
async def client(make_settings: SettingsFactory, make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client(make_settings())
