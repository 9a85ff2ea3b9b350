"""The engine tells the business about handoffs (real PostgreSQL, Redis, both simulators and a
real HTTP receiver; the notifier runs as the worker's background task): one `handoff.requested`
per handing-off turn (keyword, button, the offer after an LLM failure), one
`handoff.customer_message` per turn of a human-owned conversation, none twice for a retried turn,
and none lost while the receiver is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import jsonschema
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import customer_message, make_turn
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.notify import schema
from supportbot.notify.testing import Receiver, free_port
from supportbot.provider.backoff import RetryPolicy
from supportbot.storage.db import Pool

SECRET = "engine-handoff-hook-secret-0123"
FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.01)


def hook_settings(make_settings: Any, url: str, **overrides: Any) -> Any:
    return make_settings(
        handoff_webhook_url=url,
        handoff_webhook_secret=SECRET,
        handoff_webhook_allow_http_hosts="127.0.0.1",
        handoff_webhook_poll_seconds=0.02,
        handoff_webhook_retry_base_seconds=0.01,
        handoff_webhook_retry_max_delay_seconds=0.1,
        **overrides,
    )


@asynccontextmanager
async def engine_for(settings: Any, aredis: aioredis.Redis) -> AsyncIterator[ConversationEngine]:
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as engine:
        yield engine


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, wait: float = 20) -> None:
    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def delivered(pool: Pool, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        found = await rows(pool, "SELECT status FROM handoff_notifications")
        return len(found) >= count and all(r["status"] == "delivered" for r in found)

    return check


async def say(engine: ConversationEngine, text: str, **fields: Any) -> str:
    turn = make_turn(customer_message(text, **fields))
    await engine.handle_turn(turn)
    return turn.turn_id


def bodies(receiver: Receiver) -> list[dict[str, Any]]:
    out = []
    for request in receiver.requests:
        assert request.signed
        body = request.json()
        jsonschema.validate(body, schema(), format_checker=jsonschema.FormatChecker())
        assert request.headers["x-supportbot-event"] == body["event"]
        assert request.headers["idempotency-key"] == body["id"]
        out.append(body)
    return out


async def test_keyword_handoff_then_customer_messages(
    make_settings: Any, aredis: aioredis.Redis, msg91: SimulatorClient, pool: Pool
) -> None:
    receiver = Receiver(SECRET.encode())
    async with (
        receiver.serving() as url,
        engine_for(hook_settings(make_settings, url), aredis) as engine,
    ):
        await say(engine, "Hello")
        asked = await say(engine, "I want an agent please")
        await eventually(delivered(pool, 1), "the handoff notification")
        # the customer writes twice in quick succession while handed off: one turn, one event
        later = make_turn(customer_message("Hello? Anyone?"), customer_message("My order is late"))
        await engine.handle_turn(later)
        await eventually(delivered(pool, 2), "the customer-message notification")

    first, second = bodies(receiver)
    assert first["event"] == "handoff.requested" and first["reason"] == "keyword"
    assert first["turn_id"] == asked
    assert first["conversation"]["state"] == "pending"
    assert first["customer"]["phone_masked"] and first["customer"]["phone"] == "91******3210"
    texts = [(m["direction"], m["text"]) for m in first["messages"]]
    assert texts[0] == ("inbound", "Hello")
    assert ("outbound", "How can we help?") in texts
    assert texts[-1] == ("inbound", "I want an agent please")

    assert second["event"] == "handoff.customer_message"
    assert second["turn_id"] == later.turn_id and second["reason"] == "keyword"
    assert [m["text"] for m in second["messages"][-2:]] == ["Hello? Anyone?", "My order is late"]
    assert len(receiver.requests) == 2


async def test_a_retried_turn_notifies_once(
    make_settings: Any, aredis: aioredis.Redis, msg91: SimulatorClient, pool: Pool
) -> None:
    receiver = Receiver(SECRET.encode())
    async with (
        receiver.serving() as url,
        engine_for(hook_settings(make_settings, url), aredis) as engine,
    ):
        await say(engine, "Hello")
        message = customer_message("agent")
        await engine.handle_turn(make_turn(message, turn_id="turn-h", attempt=1))
        await engine.handle_turn(make_turn(message, turn_id="turn-h", attempt=2))
        await eventually(delivered(pool, 1), "the handoff notification")
        silent = customer_message("still there?")
        await engine.handle_turn(make_turn(silent, turn_id="turn-s", attempt=1))
        await engine.handle_turn(make_turn(silent, turn_id="turn-s", attempt=2))
        await eventually(delivered(pool, 2), "the customer-message notification")
        # a third turn makes a third row: the sender has caught up with everything before it
        await say(engine, "hello??")
        await eventually(delivered(pool, 3), "the last notification")

    found = await rows(pool, "SELECT turn_id, event FROM handoff_notifications ORDER BY id")
    assert [(r["turn_id"], r["event"]) for r in found][:2] == [
        ("turn-h", "handoff.requested"),
        ("turn-s", "handoff.customer_message"),
    ]
    assert [b["turn_id"] for b in bodies(receiver)][:2] == ["turn-h", "turn-s"]
    assert len(receiver.requests) == 3


async def test_button_and_llm_failure_offer_reasons(
    make_settings: Any,
    aredis: aioredis.Redis,
    msg91: SimulatorClient,
    pool: Pool,
    llm_sim: LLMSim,
) -> None:
    receiver = Receiver(SECRET.encode())
    async with receiver.serving() as url:
        settings = hook_settings(make_settings, url)
        async with engine_for(settings, aredis) as engine:
            await say(engine, "Hello")
            await say(engine, "Talk to us", reply_id="human")  # the menu's handoff button
            await eventually(delivered(pool, 1), "the button handoff")
        other = "919812345678"
        async with engine_for(settings, aredis) as engine:
            await say(engine, "Hello", customer=other)
            await llm_sim.add_fault("unavailable")
            await say(engine, "Ask a question", reply_id="ask", customer=other)
            await say(engine, "Do you ship to Pune?", customer=other)  # every model fails
            await say(engine, "Talk to a human", reply_id="sb:handoff", customer=other)
            await eventually(delivered(pool, 2), "the offer handoff")
    reasons = [(b["customer"]["phone"], b["reason"]) for b in bodies(receiver)]
    assert reasons == [("91******3210", "button"), ("91******5678", "fallback_offer")]


async def test_no_webhook_no_notifications(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool
) -> None:
    await say(engine, "Hello")
    await say(engine, "agent")
    await say(engine, "anyone?")
    assert await rows(pool, "SELECT id FROM handoff_notifications") == []


async def test_receiver_down_the_turn_goes_on_and_the_notification_waits(
    make_settings: Any, aredis: aioredis.Redis, msg91: SimulatorClient, pool: Pool
) -> None:
    port = free_port()
    receiver = Receiver(SECRET.encode())
    settings = hook_settings(make_settings, f"http://127.0.0.1:{port}/hooks/handoff")
    async with engine_for(settings, aredis) as engine:
        await say(engine, "Hello")
        await say(engine, "agent")
        accepted = [m["body"].get("text") for m in await msg91.accepted("919876543210")]
        assert accepted[-1] == "Connecting you to our team.", "the customer is answered"

        async def tried_twice() -> bool:
            found = await rows(pool, "SELECT count(*) AS n FROM handoff_notification_attempts")
            return int(found[0]["n"]) >= 2

        await eventually(tried_twice, "attempts while the receiver is down")
        [row] = await rows(pool, "SELECT status FROM handoff_notifications")
        assert row["status"] == "pending"
        async with receiver.serving(port):
            await eventually(delivered(pool, 1), "delivery once the receiver is back")
    [body] = bodies(receiver)
    assert body["event"] == "handoff.requested"
