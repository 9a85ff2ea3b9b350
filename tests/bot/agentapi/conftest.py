"""Agent-API fixtures: the webhook app with the agent API mounted (as in production) served by
uvicorn on loopback, the MSG91 simulator process, the OpenRouter simulator, a migrated database,
the real conversation engine, and tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.agentapi.app import mount
from supportbot.agentapi.tokens import mint_token
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import (
    JWT_SECRET,
    TENANT,
    serve,
    settings_env,
    write_flow,
)
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.settings import BotSettings, load_settings
from supportbot.webhook.app import create_app as webhook_app


@pytest.fixture
def settings(
    tmp_path: Path,
    redis_url: str,
    migrated_url: str,
    msg91_server: RunningSimulator,
    llm_sim: LLMSim,
) -> BotSettings:
    env = settings_env(
        redis_url=redis_url,
        database_url=migrated_url,
        flow_path=write_flow(tmp_path),
        msg91_url=msg91_server.url,
        openrouter_url=llm_sim.base_url,
    )
    return load_settings(env)


@pytest.fixture
async def engine(
    settings: BotSettings, aredis: aioredis.Redis
) -> AsyncIterator[ConversationEngine]:
    async with engine_handler(settings, aredis) as handler:
        yield handler


@pytest.fixture
async def api_url(settings: BotSettings) -> AsyncIterator[str]:
    """Base URL of the webhook app, agent API mounted under /api/v1 (lifespan on)."""
    app = webhook_app(settings)
    mount(app, settings)
    async with serve(app) as url:
        yield url


Token = Callable[..., str]


@pytest.fixture
def token() -> Token:
    def make(agent: str = "alice", ttl: float = 600, tenant: str = TENANT, age: float = 0.0) -> str:
        """A token issued `age` seconds ago, valid for `ttl` seconds from then."""
        return mint_token(
            JWT_SECRET.encode(), agent=agent, tenant=tenant, ttl_seconds=ttl, now=time.time() - age
        )

    return make


@pytest.fixture
async def api(api_url: str, token: Token) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the agent API, authenticated as agent 'alice'."""
    headers = {"Authorization": f"Bearer {token()}"}
    async with httpx.AsyncClient(base_url=api_url + "/api/v1", headers=headers, timeout=30) as c:
        yield c
