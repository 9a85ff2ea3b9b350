"""Fixtures of the MSG91 delivery tests: a real simulator process (CLI, real HTTP on loopback),
a driver for it, a webhook sink standing in for the bot, and a send client.

Constants shared with the tests (tests cannot import each other or this file): integrated
number 919000000001 (and 919000000002), authkey ``test-authkey-1``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from supportbot.msg91.client import Msg91Client
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot.msg91.simulator.sink import Sink, run_sink

NUMBER = "919000000001"
OTHER_NUMBER = "919000000002"
AUTH_KEY = "test-authkey-1"


@pytest.fixture(scope="session")
def sim_server() -> Iterator[RunningSimulator]:
    args = ["--number", NUMBER, "--number", OTHER_NUMBER, "--auth-key", AUTH_KEY]
    args += ["--dlr-final", "none", "--dlr-delay-ms", "5", "--seed", "7"]
    with start_simulator(args) as sim:
        yield sim


@pytest.fixture
async def sim(sim_server: RunningSimulator) -> AsyncIterator[SimulatorClient]:
    async with SimulatorClient.reset_around(sim_server.url) as driver:
        yield driver


@pytest.fixture
async def client(sim_server: RunningSimulator) -> AsyncIterator[Msg91Client]:
    async with Msg91Client(
        base_url=sim_server.url, integrated_number=NUMBER, auth_key=AUTH_KEY
    ) as c:
        yield c


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with run_sink() as s:
        yield s
