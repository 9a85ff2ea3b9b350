"""Engine fixtures: a migrated database, the MSG91 simulator (a real `supportbot msg91-sim`
process), the OpenRouter simulator (real uvicorn in this loop), settings wired to them, and the
real engine from the worker's handler factory (`engine_handler`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import serve, settings_env, write_flow
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.provider.backoff import RetryPolicy
from supportbot.queueing.testing import background_worker
from supportbot.settings import BotSettings, load_settings
from supportbot.webhook.app import create_app as webhook_app
from supportbot_dev.orders_backend import RunningBackend, start_backend

FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.01)
ORDERS_API_KEY = "orders-test-key"


MakeSettings = Callable[..., BotSettings]
RunBot = Callable[[BotSettings], AbstractAsyncContextManager[str]]


@pytest.fixture
def make_settings(
    tmp_path: Path,
    redis_url: str,
    migrated_url: str,
    msg91_server: RunningSimulator,
    llm_sim: LLMSim,
) -> MakeSettings:
    flow = write_flow(tmp_path)

    def build(*, flow_path: Path = flow, **overrides: object) -> BotSettings:
        env = settings_env(
            redis_url=redis_url,
            database_url=migrated_url,
            flow_path=flow_path,
            msg91_url=msg91_server.url,
            openrouter_url=llm_sim.base_url,
            **overrides,
        )
        return load_settings(env)

    return build


@pytest.fixture
def settings(make_settings: MakeSettings) -> BotSettings:
    return make_settings()


@pytest.fixture
async def engine(
    settings: BotSettings, aredis: aioredis.Redis
) -> AsyncIterator[ConversationEngine]:
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as handler:
        yield handler


@pytest.fixture
def run_bot(aredis: aioredis.Redis) -> RunBot:
    """The whole bot for `settings`: the webhook app served over HTTP (its URL is yielded) and a
    worker running the engine from its handler factory."""

    @asynccontextmanager
    async def run(settings: BotSettings) -> AsyncIterator[str]:
        async with (
            serve(webhook_app(settings)) as bot_url,
            engine_handler(settings, aredis) as engine,
            background_worker(settings, aredis, engine),
        ):
            yield bot_url

    return run


@pytest.fixture(scope="session")
def orders_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBackend]:
    """The fake order backend (`supportbot_dev.orders_backend`) as a real child process."""
    log = tmp_path_factory.mktemp("orders-backend") / "backend.log"
    backend = start_backend(log, api_keys=[ORDERS_API_KEY])
    try:
        yield backend
    finally:
        backend.stop()
