"""A real OpenRouter simulator (uvicorn on a loopback port) per test, and client builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from supportbot.llm import LLMConfig, OpenRouterClient
from supportbot.llm.simulator.app import SimState
from supportbot.llm.simulator.testing import RunningSimulator, run_simulator

PRIMARY = "openai/gpt-4o-mini"
SECOND = "google/gemini-2.5-flash"
THIRD = "meta-llama/llama-3.3-70b-instruct"
API_KEY = "sk-or-v1-test"

MakeClient = Callable[..., OpenRouterClient]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimState(api_key=API_KEY)) as running:
        yield running


@pytest.fixture
async def make_client(sim: RunningSimulator) -> AsyncIterator[MakeClient]:
    clients: list[OpenRouterClient] = []

    def build(models: tuple[str, ...] = (PRIMARY, SECOND), **overrides: object) -> OpenRouterClient:
        values: dict[str, object] = {
            "base_url": sim.base_url,
            "api_key": API_KEY,
            "models": models,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        client = OpenRouterClient(LLMConfig(**values))  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
