"""The worker side end to end: the real webhook app and `AsyncWorker` running the engine from
its handler factory, with the MSG91 simulator posting signed webhooks and delivery reports over
real HTTP; the runtime's archiver and delivery-report consumer write them to PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import CUSTOMER, NUMBER, WEBHOOK_SECRET
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.queueing.handler_factory import load_factory
from supportbot.storage.db import Pool

MENU_TEXT = "How can we help?"


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, wait: float = 20) -> None:
    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_signed_webhook_to_reply_and_delivery_reports(
    make_settings: Any, run_bot: Any, msg91: SimulatorClient, pool: Pool
) -> None:
    settings = make_settings(coalesce_window_seconds=0.1, coalesce_max_wait_seconds=0.5)
    async with run_bot(settings) as bot_url:
        await msg91.route(NUMBER, bot_url=bot_url, secret=WEBHOOK_SECRET)
        await msg91.configure(dlr_final="read")
        sent = await msg91.send_inbound(CUSTOMER, "Hello", name="Asha", duplicates=1)

        replies = await msg91.wait_for_messages(2, to=CUSTOMER, wait=30)
        assert [r["body"].get("text") for r in replies] == ["Hi Asha!", None]
        assert replies[1]["body"]["interactive"]["body"]["text"] == MENU_TEXT

        async def all_read() -> bool:
            states = await rows(
                pool, "SELECT delivery_state FROM messages WHERE direction = 'outbound'"
            )
            return len(states) == 2 and all(s["delivery_state"] == "read" for s in states)

        await eventually(all_read, "delivery reports to reach 'read'")

        async def archived() -> bool:
            found = await rows(pool, "SELECT kind FROM raw_webhooks")
            kinds = [r["kind"] for r in found]
            return kinds.count("message") >= 1 and kinds.count("status") >= 6

        await eventually(archived, "raw bodies to be archived")

    inbound = await rows(
        pool, "SELECT author, provider_message_id, text FROM messages WHERE direction = 'inbound'"
    )
    assert inbound == [
        {"author": "customer", "provider_message_id": sent["message_id"], "text": "Hello"}
    ]
    # a report may overtake the storing of the send result; the state still ends at 'read'
    outbound = await rows(
        pool,
        "SELECT seq, delivery_state, read_at IS NOT NULL AS r FROM messages"
        " WHERE direction = 'outbound' ORDER BY seq",
    )
    assert outbound == [
        {"seq": 0, "delivery_state": "read", "r": True},
        {"seq": 1, "delivery_state": "read", "r": True},
    ]
    [turn] = await rows(pool, "SELECT outcome FROM turns")
    assert turn == {"outcome": "greeting"}
    assert len(await msg91.accepted(CUSTOMER)) == 2  # the duplicate webhook gave no second reply


async def test_background_tasks_stop_with_the_handler(
    make_settings: Any, aredis: aioredis.Redis
) -> None:
    assert load_factory("supportbot.engine.runtime:engine_handler") is engine_handler
    settings = make_settings()
    before = {t.get_name() for t in asyncio.all_tasks()}
    async with engine_handler(settings, aredis) as engine:
        assert isinstance(engine, ConversationEngine)
        running = {t.get_name() for t in asyncio.all_tasks()} - before
        assert {"raw-archiver", "dlr-consumer"} <= running
    left = {t.get_name() for t in asyncio.all_tasks() if not t.done()} - before
    assert not {"raw-archiver", "dlr-consumer"} & left
