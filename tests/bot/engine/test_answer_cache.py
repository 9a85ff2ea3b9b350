"""The answer cache with real Redis, PostgreSQL and both simulators: a repeated question is
answered without a new LLM call (in-process tier, then Redis from another process's engine),
never across PII or a differing context, and not after the flow or the models change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.engine import answers
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import customer_message, make_turn, write_flow
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.backoff import RetryPolicy
from supportbot.settings import BotSettings
from supportbot.storage.db import Pool

FLOW = """\
version: 1
name: faq-shop
start: ask
greeting: "Hello! Ask us anything."
steps:
  ask:
    text: "What would you like to know?"
    on_text: llm
llm:
  system_prompt: "You are the assistant of FAQ Shop. {prompt_extra}"
  history_messages: {history}
"""

FAST = RetryPolicy(max_attempts=2, base_delay=0.01)

MakeSettings = Callable[..., BotSettings]  # the `make_settings` fixture (conftest)


def flow_text(*, prompt_extra: str = "", history: int = 0) -> str:
    return FLOW.replace("{prompt_extra}", prompt_extra).replace("{history}", str(history))


@pytest.fixture
def flow_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Its own folder: `make_settings` writes the default flow into `tmp_path`."""
    return write_flow(tmp_path_factory.mktemp("faq-flow"), flow_text())


@pytest.fixture
def build_settings(flow_path: Path, make_settings: MakeSettings) -> MakeSettings:
    def build(**overrides: object) -> BotSettings:
        return make_settings(flow_path=flow_path, **{"answer_cache_enabled": "true", **overrides})

    return build


@asynccontextmanager
async def engine_for(
    settings: BotSettings, aredis: aioredis.Redis
) -> AsyncIterator[ConversationEngine]:
    async with engine_handler(settings, aredis, retry_policy=FAST) as engine:
        yield engine


_greeted: set[str] = set()


@pytest.fixture(autouse=True)
def _fresh_customers() -> None:
    _greeted.clear()


async def say(engine: ConversationEngine, customer: str, text: str, name: str = "Asha") -> str:
    turn = make_turn(customer_message(text, customer=customer, name=name))
    await engine.handle_turn(turn)
    _greeted.add(customer)
    return turn.turn_id


async def ask(engine: ConversationEngine, customer: str, text: str, name: str = "Asha") -> str:
    """`text` as a free-text question (after a first "hi": first contact gets the greeting)."""
    if customer not in _greeted:
        await say(engine, customer, "hi", name)
    return await say(engine, customer, text, name)


async def llm_calls(sim: LLMSim) -> int:
    return len([r for r in await sim.requests() if r["status"] == 200])


async def last_text(msg91: SimulatorClient, customer: str) -> str:
    body = (await msg91.accepted(customer))[-1]["body"]
    return str(body["text"])


async def turn_row(pool: Pool, turn_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT outcome, model, cost FROM turns WHERE turn_id = $1", turn_id
        )
    assert row is not None
    return dict(row)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_repeated_question_is_answered_from_the_cache(
    build_settings: MakeSettings,
    aredis: aioredis.Redis,
    llm_sim: LLMSim,
    msg91: SimulatorClient,
    pool: Pool,
) -> None:
    settings = build_settings()
    hits_before = sample("supportbot_answer_cache_lookups_total", result="hit_memory")
    saved_before = sample("supportbot_answer_cache_saved_cost_usd_total")
    async with engine_for(settings, aredis) as engine:
        await ask(engine, "919800000001", "What are your opening hours?")
        first_answer = await last_text(msg91, "919800000001")
        assert await llm_calls(llm_sim) == 1
        # another customer, the same question written differently: no LLM call, same answer
        turn_id = await ask(engine, "919800000002", "  what are your OPENING hours ", name="Ravi")
        assert await llm_calls(llm_sim) == 1
        assert await last_text(msg91, "919800000002") == first_answer
        row = await turn_row(pool, turn_id)
        assert row["outcome"] == "llm_cached" and float(row["cost"]) == 0.0
        assert row["model"] is not None
    assert sample("supportbot_answer_cache_lookups_total", result="hit_memory") == hits_before + 1
    assert sample("supportbot_answer_cache_saved_cost_usd_total") > saved_before

    # a new worker process (empty in-process tier) finds it in Redis
    redis_hits = sample("supportbot_answer_cache_lookups_total", result="hit_redis")
    async with engine_for(settings, aredis) as engine:
        await ask(engine, "919800000003", "What are your opening hours?", name="Meera")
        assert await last_text(msg91, "919800000003") == first_answer
    assert await llm_calls(llm_sim) == 1
    assert sample("supportbot_answer_cache_lookups_total", result="hit_redis") == redis_hits + 1


async def test_off_by_default_every_question_asks_the_llm(
    build_settings: MakeSettings, aredis: aioredis.Redis, llm_sim: LLMSim, msg91: SimulatorClient
) -> None:
    settings = build_settings(answer_cache_enabled="false")
    async with engine_for(settings, aredis) as engine:
        await ask(engine, "919800000011", "Do you ship to Pune?")
        await ask(engine, "919800000012", "Do you ship to Pune?", name="Ravi")
    assert await llm_calls(llm_sim) == 2


async def test_questions_with_pii_or_the_customer_name_are_never_shared(
    build_settings: MakeSettings, aredis: aioredis.Redis, llm_sim: LLMSim, msg91: SimulatorClient
) -> None:
    settings = build_settings()
    async with engine_for(settings, aredis) as engine:
        for customer in ("919800000021", "919800000022"):
            await ask(engine, customer, "Please call me at +91 98765 43210", name="Ravi")
            await ask(engine, customer, "my email is asha@example.com, any news?", name="Ravi")
            await ask(engine, customer, "is this Asha's order?", name="Asha")
    assert await llm_calls(llm_sim) == 6
    assert await aredis.keys("sb:acme:answer:*") == []


async def test_a_flow_or_model_change_is_not_answered_from_old_entries(
    build_settings: MakeSettings,
    flow_path: Path,
    aredis: aioredis.Redis,
    llm_sim: LLMSim,
    msg91: SimulatorClient,
) -> None:
    question = "Can I return a gift?"
    async with engine_for(build_settings(), aredis) as engine:
        await ask(engine, "919800000031", question)
        await ask(engine, "919800000032", question)
        assert await llm_calls(llm_sim) == 1
        write_flow(flow_path.parent, flow_text(prompt_extra="Returns take 30 days."))
        assert engine.flows.reload_if_changed()
        await ask(engine, "919800000033", question)
        assert await llm_calls(llm_sim) == 2
    other_models = build_settings(llm_models="google/gemini-2.5-flash")
    async with engine_for(other_models, aredis) as engine:
        await ask(engine, "919800000034", question)
    assert await llm_calls(llm_sim) == 3


async def test_the_same_question_in_a_different_context_is_not_shared(
    build_settings: MakeSettings,
    flow_path: Path,
    aredis: aioredis.Redis,
    llm_sim: LLMSim,
    msg91: SimulatorClient,
) -> None:
    write_flow(flow_path.parent, flow_text(history=6))
    async with engine_for(build_settings(), aredis) as engine:
        await say(engine, "919800000041", "hi")
        await say(engine, "919800000042", "hello")
        calls = await llm_calls(llm_sim)
        await ask(engine, "919800000041", "how long does delivery take?")
        await ask(engine, "919800000042", "how long does delivery take?")  # after "hello"
        assert await llm_calls(llm_sim) == calls + 2
        await say(engine, "919800000043", "hi")
        await ask(engine, "919800000043", "How long does delivery take")  # same as after "hi"
        assert await llm_calls(llm_sim) == calls + 2


async def test_redis_errors_are_misses_not_failed_turns(redis_url: str) -> None:
    broken = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    cache = answers.AnswerCache(broken, "acme", ttl_seconds=60, memory_entries=0)
    errors = sample("supportbot_answer_cache_lookups_total", result="error")
    assert await cache.lookup("d" * 64) is None
    entry = answers.CachedAnswer("We open at 9.", "m", 10, 5, 0.001)
    assert await cache.offer("d" * 64, entry, None) is False
    assert sample("supportbot_answer_cache_lookups_total", result="error") == errors + 1
    await broken.aclose()


async def test_memory_tier_expires_and_evicts(aredis: aioredis.Redis) -> None:
    now = [1000.0]
    cache = answers.AnswerCache(
        aredis, "acme", ttl_seconds=600, memory_entries=2, clock=lambda: now[0]
    )
    entry = answers.CachedAnswer("We open at 9.", "m", 10, 5, 0.001)
    for digest in ("a" * 64, "b" * 64, "c" * 64):
        await cache.put(digest, entry)
    assert await cache.get("c" * 64) == (entry, "memory")
    assert await cache.get("a" * 64) == (entry, "redis")  # evicted from memory (LRU of 2)
    now[0] += answers.MEMORY_TTL_CAP + 1
    assert await cache.get("c" * 64) == (entry, "redis")  # expired in memory, still in Redis
    assert 590 <= await aredis.ttl("sb:acme:answer:" + "a" * 64) <= 600
