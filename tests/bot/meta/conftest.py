"""Fixtures of the Meta Cloud API tests: a real simulator process (``supportbot meta-sim``, real
HTTP on loopback), a driver for it, a signature-checking webhook sink standing in for the bot,
and a send client.

Constants shared with the tests (tests cannot import each other or this file): phone number id
106540352242922 (display 15550783881), access token ``test-token-1``, app secret
``test-app-secret``, verify token ``test-verify-token``, customer 16505551234 (whose 24 h window
the `sim` fixture opens)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from supportbot.meta.client import MetaClient
from supportbot.meta.simulator.driver import MetaSimulatorClient
from supportbot.meta.simulator.process import RunningSimulator, start_simulator
from supportbot.meta.simulator.sink import Sink, run_sink

PHONE_NUMBER_ID = "106540352242922"
DISPLAY = "15550783881"
TOKEN = "test-token-1"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
CUSTOMER = "16505551234"


@pytest.fixture(scope="session")
def meta_server() -> Iterator[RunningSimulator]:
    args = ["--phone-number", f"{PHONE_NUMBER_ID}={DISPLAY}", "--access-token", TOKEN]
    args += ["--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN]
    args += ["--status-final", "none", "--status-delay-ms", "5"]
    with start_simulator(args) as sim:
        yield sim


@pytest.fixture
async def sim(meta_server: RunningSimulator) -> AsyncIterator[MetaSimulatorClient]:
    async with MetaSimulatorClient.reset_around(meta_server.url) as driver:
        await driver.set_last_inbound(CUSTOMER, time.time())
        yield driver


@pytest.fixture
async def client(meta_server: RunningSimulator) -> AsyncIterator[MetaClient]:
    async with MetaClient(
        base_url=meta_server.url, phone_number_id=PHONE_NUMBER_ID, access_token=TOKEN
    ) as c:
        yield c


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with run_sink(APP_SECRET, VERIFY_TOKEN) as s:
        yield s
