"""Engine fixtures: a migrated database, the MSG91 simulator (a real `supportbot msg91-sim`
process), the OpenRouter simulator (real uvicorn in this loop), settings wired to them, and the
real engine from the worker's handler factory (`engine_handler`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from supportbot.engine.engine import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import msg91_sim_args, settings_env, write_flow
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim, run_simulator
from supportbot.msg91.backoff import RetryPolicy
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot.settings import BotSettings, load_settings
from supportbot.storage import migrations
from supportbot.storage.db import Pool, create_pool

FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.01)


@pytest.fixture(scope="session")
def msg91_server() -> Iterator[RunningSimulator]:
    with start_simulator(msg91_sim_args()) as sim:
        yield sim


@pytest.fixture
async def msg91(msg91_server: RunningSimulator) -> AsyncIterator[SimulatorClient]:
    async with SimulatorClient(msg91_server.url) as driver:
        await driver.reset()
        yield driver
        await driver.reset()


@pytest.fixture
async def llm_sim() -> AsyncIterator[LLMSim]:
    async with run_simulator() as sim:
        yield sim


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await migrations.migrate(database_url)
    return database_url


@pytest.fixture
async def pool(migrated_url: str) -> AsyncIterator[Pool]:
    p = await create_pool(migrated_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


MakeSettings = Callable[..., BotSettings]


@pytest.fixture
def make_settings(
    tmp_path: Path,
    redis_url: str,
    migrated_url: str,
    msg91_server: RunningSimulator,
    llm_sim: LLMSim,
) -> MakeSettings:
    flow = write_flow(tmp_path)

    def build(**overrides: object) -> BotSettings:
        env = settings_env(
            redis_url=redis_url,
            database_url=migrated_url,
            flow_path=flow,
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
