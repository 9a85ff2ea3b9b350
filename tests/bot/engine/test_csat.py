"""CSAT with real Redis, PostgreSQL and both simulators: a resolved conversation (flow end step,
idle) is asked for a rating once, inside the 24 h window, never when the customer went on,
opted out or a human owns it; the rating is stored, thanked and counted."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.engine import control
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.csat import CsatSender
from supportbot.engine.runtime import open_resources
from supportbot.engine.testing import (
    CUSTOMER,
    TENANT,
    customer_message,
    make_turn,
    write_flow,
)
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.backoff import RetryPolicy
from supportbot.settings import BotSettings
from supportbot.storage import csat as store, export
from supportbot.storage.db import Pool

FLOW = """\
version: 1
name: csat-shop
start: menu
steps:
  menu:
    text: "How can we help?"
    buttons:
      - {{id: hours, title: "Opening hours", goto: hours}}
      - {{id: ask, title: "Ask a question", goto: ask}}
  hours:
    text: "We're open 9-18."
    action: end
  ask:
    text: "Type your question."
    on_text: llm
llm:
  system_prompt: "You are the assistant of CSAT Shop."
  history_messages: 0
csat:
  question: "How did we do?"
  scale: {scale}
  thanks: "Thanks for rating us!"
  after: {after}
  delay_seconds: {delay}
  idle_minutes: 5
  cooldown_hours: {cooldown}
"""

MakeSettings = Callable[..., BotSettings]  # the `make_settings` fixture (conftest)


class Bot:
    """The engine and the CSAT sender of one worker, with a clock the test moves."""

    def __init__(self, engine: ConversationEngine, sender: CsatSender, clock: list[float]):
        self.engine, self.sender, self.clock = engine, sender, clock

    async def say(self, text: str | None = None, **fields: Any) -> None:
        message = customer_message(text, received_at=self.clock[0], **fields)
        await self.engine.handle_turn(make_turn(message))

    async def tap(self, reply_id: str, title: str = "x") -> None:
        await self.say(title, reply_id=reply_id)

    def later(self, seconds: float) -> None:
        self.clock[0] += seconds


MakeBot = Callable[..., Any]


@pytest.fixture
async def make_bot(
    tmp_path: Path, make_settings: MakeSettings, aredis: aioredis.Redis
) -> AsyncIterator[MakeBot]:
    async with AsyncExitStack() as stack:

        async def make(
            *, scale: int = 5, after: str = "[flow_end, idle]", delay: int = 0, cooldown: int = 24
        ) -> Bot:
            text = FLOW.format(scale=scale, after=after, delay=delay, cooldown=cooldown)
            settings = make_settings(flow_path=write_flow(tmp_path, text))
            res = await stack.enter_async_context(
                open_resources(settings, aredis, retry_policy=RetryPolicy(2, 0.01))
            )
            clock = [time.time()]
            engine = res.engine()
            engine.clock = lambda: clock[0]
            sender = CsatSender(res.pool, res.deliverer, res.flows, TENANT, clock=lambda: clock[0])
            return Bot(engine, sender, clock)

        yield make


async def surveys(pool: Pool) -> list[store.Survey]:
    return await store.of_customer(pool, TENANT, CUSTOMER)


async def sent(msg91: SimulatorClient) -> list[dict[str, Any]]:
    return [m["body"] for m in await msg91.accepted(CUSTOMER)]


def rating_ids(body: dict[str, Any]) -> list[str]:
    interactive = body["interactive"]
    if interactive["type"] == "list":
        return [r["id"] for s in interactive["action"]["sections"] for r in s["rows"]]
    return [b["reply"]["id"] for b in interactive["action"]["buttons"]]


def observed(scale: str) -> tuple[float, float]:
    count = REGISTRY.get_sample_value("supportbot_csat_rating_count", {"scale": scale}) or 0.0
    total = REGISTRY.get_sample_value("supportbot_csat_rating_sum", {"scale": scale}) or 0.0
    return count, total


async def test_a_flow_end_is_asked_once_and_the_rating_is_stored(
    make_bot: MakeBot, msg91: SimulatorClient, pool: Pool
) -> None:
    bot = await make_bot()
    await bot.say("hello")
    await bot.tap("hours", "Opening hours")  # reaches the end step: resolved
    [survey] = await surveys(pool)
    assert (survey.trigger, survey.status) == ("flow_end", "pending")

    assert await bot.sender.tick() == 1
    question = (await sent(msg91))[-1]
    assert question["interactive"]["body"]["text"] == "How did we do?"
    ids = rating_ids(question)
    assert ids == [f"sb:csat:{survey.id}:{n}" for n in (5, 4, 3, 2, 1)]
    assert await bot.sender.tick() == 0  # asked once

    before = observed("5")
    await bot.tap(ids[1], "★★★★ Good")
    assert (await sent(msg91))[-1]["text"] == "Thanks for rating us!"
    [survey] = await surveys(pool)
    assert (survey.status, survey.rating, survey.scale) == ("answered", 4, 5)
    assert observed("5") == (before[0] + 1, before[1] + 4)

    await bot.tap(ids[4], "★ Very poor")  # a second tap does not change the rating
    [survey] = await surveys(pool)
    assert survey.rating == 4
    assert observed("5") == (before[0] + 1, before[1] + 4)
    records = [r async for r in export.iter_records(pool, TENANT, customer_id=CUSTOMER)]
    assert records and {(r["csat_rating"], r["csat_scale"]) for r in records} == {(4, 5)}

    # a later resolution (new messages, another end step) gets its own survey, but the
    # cooldown keeps the customer from being asked again within 24 h
    bot.later(60)
    await bot.tap("hours", "Opening hours")
    await bot.sender.tick()
    latest = (await surveys(pool))[0]
    assert (latest.status, latest.skip_reason) == ("skipped", "cooldown")


async def test_three_point_buttons(make_bot: MakeBot, msg91: SimulatorClient, pool: Pool) -> None:
    bot = await make_bot(scale=3)
    await bot.say("hello")
    await bot.tap("hours", "Opening hours")
    await bot.sender.tick()
    [survey] = await surveys(pool)
    question = (await sent(msg91))[-1]
    assert question["interactive"]["type"] == "button"
    assert [b["reply"]["title"] for b in question["interactive"]["action"]["buttons"]] == [
        "Good",
        "OK",
        "Poor",
    ]
    await bot.tap(f"sb:csat:{survey.id}:5", "forged")  # outside the 3-point scale: refused
    assert (await surveys(pool))[0].rating is None
    await bot.tap(f"sb:csat:{survey.id}:3", "Good")
    assert (await surveys(pool))[0].rating == 3


async def test_not_asked_when_the_customer_went_on_or_opted_out(
    make_bot: MakeBot, msg91: SimulatorClient, pool: Pool
) -> None:
    bot = await make_bot(delay=60)
    await bot.say("hello")
    await bot.tap("hours", "Opening hours")
    assert await bot.sender.tick() == 0  # not due for 60 s
    bot.later(10)
    await bot.tap("ask", "Ask a question")  # the conversation goes on: not resolved
    bot.later(61)
    assert await bot.sender.tick() == 0
    [survey] = await surveys(pool)
    assert (survey.status, survey.skip_reason) == ("skipped", "conversation_continued")

    bot.later(60)
    await bot.say("hi")
    await bot.tap("hours", "Opening hours")
    await bot.say("STOP")
    bot.later(61)
    await bot.sender.tick()
    latest = (await surveys(pool))[0]
    assert (latest.status, latest.skip_reason) == ("skipped", "opted_out")
    assert not any("interactive" in b and "csat" in str(b) for b in await sent(msg91))


async def test_not_asked_once_the_window_closes_or_while_a_human_owns_it(
    make_bot: MakeBot, msg91: SimulatorClient, pool: Pool
) -> None:
    bot = await make_bot(delay=60)
    await bot.say("hello")
    await bot.tap("hours", "Opening hours")
    bot.later(24 * 3600 - 300)  # within 10 minutes of the window's end
    await bot.sender.tick()
    [survey] = await surveys(pool)
    assert (survey.status, survey.skip_reason) == ("skipped", "window_closed")

    await bot.tap("hours", "Opening hours")
    await control.request_handoff(pool, TENANT, CUSTOMER, reason="api", source="api")
    bot.later(61)
    await bot.sender.tick()
    latest = (await surveys(pool))[0]
    assert (latest.status, latest.skip_reason) == ("skipped", "handed_off")


async def test_idle_conversations_are_asked_once(
    make_bot: MakeBot, msg91: SimulatorClient, pool: Pool
) -> None:
    bot = await make_bot(after="[idle]")
    await bot.say("hello")
    await bot.tap("ask", "Ask a question")
    await bot.say("Do you ship to Pune?")  # the LLM answers: the bot spoke last
    assert await bot.sender.tick() == 0  # not idle yet
    bot.later(4 * 60)
    assert await bot.sender.tick() == 0
    bot.later(2 * 60)
    assert await bot.sender.tick() == 1
    [survey] = await surveys(pool)
    assert (survey.trigger, survey.status) == ("idle", "asked")
    bot.later(30 * 60)
    assert await bot.sender.tick() == 0  # the same quiet period: never twice
    assert len(await surveys(pool)) == 1


async def test_a_flow_end_without_csat_in_the_flow_makes_no_survey(
    make_bot: MakeBot, msg91: SimulatorClient, pool: Pool
) -> None:
    bot = await make_bot(after="[agent_resolved]")
    await bot.say("hello")
    await bot.tap("hours", "Opening hours")
    assert await surveys(pool) == []
    # an agent's "resolved" handback is asked (the agent API makes the row)
    made = await store.create(
        pool, TENANT, CUSTOMER, "agent_resolved", now=_now(bot), delay_seconds=0
    )
    assert made is not None
    assert await bot.sender.tick() == 1
    [survey] = await surveys(pool)
    assert (survey.trigger, survey.status) == ("agent_resolved", "asked")


def _now(bot: Bot) -> datetime:
    return datetime.fromtimestamp(bot.clock[0], UTC)
