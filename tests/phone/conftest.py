"""Phone-page fixtures: a real MSG91 simulator process (delivery reports up to "read"), the
OpenRouter simulator, a migrated database, the tenant's real webhook app with the agent API
mounted and a real `AsyncWorker` running the conversation engine (all on loopback), and the
phone page itself served by uvicorn in this event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.agentapi.app import mount
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import (
    AUTH_KEY,
    NUMBER,
    TEMPLATE,
    TENANT,
    WEBHOOK_SECRET,
    serve,
    settings_env,
    write_flow,
)
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim, run_simulator
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot.queueing.testing import background_worker
from supportbot.settings import BotSettings, load_settings
from supportbot.storage import migrations
from supportbot.webhook.app import create_app as webhook_app
from supportbot_dev.phone.config import PhoneConfig, TenantConfig
from supportbot_dev.phone.server import serve as serve_page
from supportbot_dev.phone.testing import FLOW, Chat, Stack, agent_token


@pytest.fixture(scope="session")
def msg91_server() -> Iterator[RunningSimulator]:
    args = ["--number", NUMBER, "--auth-key", AUTH_KEY, "--template", f"{TEMPLATE}=1"]
    args += ["--dlr-final", "read", "--dlr-delay-ms", "50"]
    with start_simulator(args) as sim:
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
async def settings(
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    msg91_server: RunningSimulator,
    llm_sim: LLMSim,
) -> BotSettings:
    await migrations.migrate(database_url)
    env = settings_env(
        redis_url=redis_url,
        database_url=database_url,
        flow_path=write_flow(tmp_path, FLOW),
        msg91_url=msg91_server.url,
        openrouter_url=llm_sim.base_url,
        coalesce_window_seconds=0.1,
        coalesce_max_wait_seconds=0.5,
    )
    return load_settings(env)


@pytest.fixture
async def stack(
    settings: BotSettings, aredis: aioredis.Redis, msg91: SimulatorClient
) -> AsyncIterator[Stack]:
    """The tenant's bot (webhook + agent API + engine worker), routed from the simulator, and
    the phone page in front of both."""
    app = webhook_app(settings)
    if not any(getattr(route, "path", None) == "/api/v1" for route in app.routes):
        mount(app, settings)  # older webhook apps did not serve the agent API themselves
    async with (
        serve(app) as bot_url,
        engine_handler(settings, aredis) as engine,
        background_worker(settings, aredis, engine),
    ):
        await msg91.route(NUMBER, bot_url=bot_url, secret=WEBHOOK_SECRET)
        tenant = TenantConfig(TENANT, NUMBER, bot_url, agent_token())
        config = PhoneConfig(msg91.base_url, (tenant,), poll_ms=300)
        async with (
            serve_page(config) as page_url,
            httpx.AsyncClient(base_url=page_url, timeout=30) as page,
        ):
            yield Stack(bot_url, page_url, msg91, page)


@pytest.fixture
def open_chat(stack: Stack) -> Callable[[str], Chat]:
    return lambda customer: Chat(stack.page, TENANT, customer)
