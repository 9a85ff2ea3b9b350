"""Outages of the engine's dependencies are deferrals, not failures (real PostgreSQL behind a
cuttable TCP proxy, the MSG91 simulator answering 500): the turn raises `TurnDeferred`, the
customer hears nothing about it (never the LLM fallback text), and the same turn run again once
the dependency is back sends the real answer exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import CUSTOMER, NUMBER, PRIMARY, customer_message, make_turn
from supportbot.llm.simulator.replies import reply_text
from supportbot.messages import Turn, TurnDeferred
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot_dev.tcpproxy import FaultProxy

from .conftest import FAST_RETRIES, MakeSettings

HISTORY_SQL = b"ORDER BY created_at DESC, id DESC"
"""A piece of the history query's SQL (`storage.queries.get_messages`): the proxy cuts on it."""
FALLBACK_TEXT = "Sorry, I can't answer that right now."


def text_body(text: str) -> dict[str, Any]:
    return {
        "integrated_number": NUMBER,
        "recipient_number": CUSTOMER,
        "content_type": "text",
        "text": text,
    }


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def pg_proxy(migrated_url: str) -> AsyncIterator[FaultProxy]:
    port = urlsplit(migrated_url).port
    assert port is not None
    proxy = await FaultProxy(port).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def engine_via_proxy(
    make_settings: MakeSettings, migrated_url: str, aredis: aioredis.Redis, pg_proxy: FaultProxy
) -> AsyncIterator[ConversationEngine]:
    settings = make_settings(DATABASE_URL=via(migrated_url, pg_proxy.port))
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as engine:
        yield engine


async def run_until_done(engine: ConversationEngine, turn: Turn, seconds: float = 20) -> int:
    """Run `turn` again after every deferral (as the drain does); the number of deferrals."""
    deferrals = 0
    deadline = time.monotonic() + seconds
    while True:
        try:
            await engine.handle_turn(turn)
            return deferrals
        except TurnDeferred:
            deferrals += 1
            if time.monotonic() > deadline:
                raise


async def bodies(msg91: SimulatorClient) -> list[dict[str, Any]]:
    return [m["body"] for m in await msg91.accepted(CUSTOMER)]


async def test_postgres_dying_while_history_is_read_defers_the_turn_never_a_fallback(
    engine_via_proxy: ConversationEngine, msg91: SimulatorClient, pg_proxy: FaultProxy
) -> None:
    engine = engine_via_proxy
    await engine.handle_turn(make_turn(customer_message("Hello")))
    await engine.handle_turn(make_turn(customer_message("Ask a question", reply_id="ask")))
    before = await bodies(msg91)

    question = make_turn(customer_message("Do you ship to Pune?"), turn_id="turn-pg")
    pg_proxy.cut_when(HISTORY_SQL)
    with pytest.raises(TurnDeferred) as caught:
        await engine.handle_turn(question)
    assert pg_proxy.triggered.is_set(), "PostgreSQL went away exactly while history was read"
    assert caught.value.dependency in {"postgresql", "network"}
    assert await bodies(msg91) == before, "nothing was sent: no LLM-failure fallback"

    with pytest.raises(TurnDeferred):  # still down: deferred again, still silent
        await engine.handle_turn(question)
    assert await bodies(msg91) == before

    await pg_proxy.heal()
    await run_until_done(engine, question)
    answer = reply_text(PRIMARY, [{"role": "user", "content": "Do you ship to Pune?"}])
    assert await bodies(msg91) == [*before, text_body(answer)]
    assert FALLBACK_TEXT not in json.dumps(await bodies(msg91))


async def test_msg91_answering_500_defers_the_turn_and_the_reply_goes_out_once_after(
    engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await engine.handle_turn(make_turn(customer_message("Hello")))
    greeted = await bodies(msg91)
    await msg91.fail_next(500, count=1000)
    hours = make_turn(customer_message("Opening hours", reply_id="hours"), turn_id="turn-5xx")
    with pytest.raises(TurnDeferred) as caught:
        await engine.handle_turn(hours)
    assert caught.value.dependency == "msg91"
    assert await bodies(msg91) == greeted

    await msg91.clear_faults()
    await run_until_done(engine, hours)
    await run_until_done(engine, hours)  # a duplicate run of a finished turn sends nothing new
    assert await bodies(msg91) == [*greeted, text_body("We're open 9-18, Monday to Friday.")]


async def test_replies_postgresql_records_as_accepted_are_not_resent_after_redis_lost_them(
    engine: ConversationEngine, msg91: SimulatorClient, aredis: aioredis.Redis
) -> None:
    """Redis restarted from an AOF that missed its last second: the turn's sent markers (and
    its stored plan) are gone and the turn runs again; PostgreSQL's rows still say MSG91
    accepted the replies, so nothing is sent twice."""
    await engine.handle_turn(make_turn(customer_message("Hello")))
    hours = make_turn(customer_message("Opening hours", reply_id="hours"), turn_id="turn-lost")
    await engine.handle_turn(hours)
    sent = await bodies(msg91)
    lost = [k async for k in aredis.scan_iter(match="sb:*turn-lost*")]
    assert lost, "the turn left markers (and a plan) in Redis"
    await aredis.delete(*lost)

    await engine.handle_turn(hours)
    assert await bodies(msg91) == sent
