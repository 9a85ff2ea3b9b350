"""Fixtures shared by the bot's integration tests: both simulators and a migrated database.

Sub-directories may override any of them (tests/bot/storage and tests/bot/msg91 do)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from supportbot.engine.testing import msg91_sim_args
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim, run_simulator
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot.storage import migrations
from supportbot.storage.db import Pool, create_pool


@pytest.fixture(scope="session")
def msg91_server() -> Iterator[RunningSimulator]:
    with start_simulator(msg91_sim_args()) as sim:
        yield sim


@pytest.fixture
async def msg91(msg91_server: RunningSimulator) -> AsyncIterator[SimulatorClient]:
    async with SimulatorClient.reset_around(msg91_server.url) as driver:
        yield driver


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
