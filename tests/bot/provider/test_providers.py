"""The bot's behaviour, stated once and run against both providers' simulators (MSG91 and Meta):
flow reply, LLM reply, handoff, 24 h window -> template, delivery states (incl. the asynchronous
131047 failure), exactly once under webhook redelivery and turn re-runs, and the read receipt +
typing indicator at turn start (Meta only; never when no reply follows)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import (
    CUSTOMER,
    PRIMARY,
    TEMPLATE,
    TENANT,
    customer_message,
    make_turn,
)
from supportbot.llm.simulator.replies import reply_text
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.messages import (
    ListRow,
    ListSection,
    OutboundKind,
    OutboundMessage,
    ReplyButton,
)
from supportbot.provider.deliverer import Deliverer, Recipient, ReplyStatus
from supportbot.provider.select import open_provider
from supportbot.settings import BotSettings
from supportbot.storage.db import Pool

GREETING = [("text", "Hi Asha!"), ("buttons", "How can we help?")]

Until = Callable[..., Any]


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def outbound(pool: Pool) -> list[dict[str, Any]]:
    return await rows(
        pool,
        "SELECT seq, kind, text, provider_message_id, delivery_state, delivery_error_code"
        " FROM messages WHERE tenant_id = $1 AND direction = 'outbound' ORDER BY id",
        TENANT,
    )


async def turns_done(pool: Pool, count: int) -> bool:
    return len(await rows(pool, "SELECT 1 FROM turns WHERE tenant_id = $1", TENANT)) >= count


EVERY_KIND = [
    OutboundMessage(kind=OutboundKind.TEXT, text="Plain text"),
    OutboundMessage(
        kind=OutboundKind.BUTTONS,
        text="Pick one",
        buttons=(ReplyButton("a", "Yes"), ReplyButton("b", "No")),
    ),
    OutboundMessage(
        kind=OutboundKind.LIST,
        text="Pick a store",
        list_button="Stores",
        sections=(ListSection("", (ListRow("pune", "Pune"), ListRow("goa", "Goa", "By the sea"))),),
    ),
    OutboundMessage(
        kind=OutboundKind.IMAGE,
        text="Your receipt",
        media_url="https://files.example/receipt.jpg",
        media_mime="image/jpeg",
    ),
    OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name=TEMPLATE,
        template_language="en",
        template_params=("Asha",),
    ),
]


async def test_every_message_kind_through_the_provider(
    sim: Any, settings: BotSettings, aredis: aioredis.Redis
) -> None:
    """The provider chosen from the settings sends text, buttons, list, media and template."""
    async with open_provider(settings) as provider:
        assert provider.name == sim.name
        deliverer = Deliverer.from_settings(settings, aredis, provider)
        customer = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time())
        outcomes = await deliverer.send_turn_replies("turn-kinds", customer, EVERY_KIND)
    assert [o.status for o in outcomes] == [ReplyStatus.SENT] * 5
    assert await sim.replies() == [
        ("text", "Plain text"),
        ("buttons", "Pick one"),
        ("list", "Pick a store"),
        ("image", "Your receipt"),
        ("template", TEMPLATE),
    ]
    ids = [o.provider_message_id for o in outcomes]
    assert ids == await sim.sent_ids()


async def test_flow_reply(
    sim: Any, run_bot: Any, settings: BotSettings, pool: Pool, until: Until
) -> None:
    async with run_bot(settings):
        await sim.final_status("read")
        said = await sim.say("Hello")
        assert await sim.wait_for_replies(2) == GREETING

        async def all_read() -> bool:
            states = [r["delivery_state"] for r in await outbound(pool)]
            return states == ["read", "read"]

        await until(all_read, "both replies to reach 'read'")
    ids = [r["provider_message_id"] for r in await outbound(pool)]
    assert ids == await sim.sent_ids()
    if sim.name == "meta":
        [receipt] = await sim.receipts()
        assert (receipt["message_id"], receipt["typing"]) == (said, True)
    else:
        assert await sim.receipts() == []


async def test_llm_reply(sim: Any, run_bot: Any, settings: BotSettings, llm_sim: LLMSim) -> None:
    question = "Do you ship to Pune?"
    async with run_bot(settings):
        await sim.say("Hello")
        assert await sim.wait_for_replies(2) == GREETING
        await sim.say("Ask a question", reply_id="ask")
        assert (await sim.wait_for_replies(3))[2] == ("text", "Type your question.")
        await sim.say(question)
        replies = await sim.wait_for_replies(4)
    answer = reply_text(PRIMARY, [{"role": "user", "content": question}])
    assert replies[3] == ("text", answer)
    assert [r["model"] for r in await llm_sim.requests()] == [PRIMARY]
    if sim.name == "meta":  # one receipt per turn, each with the typing indicator
        receipts = await sim.receipts()
        assert len(receipts) == 3 and all(r["typing"] for r in receipts)


async def test_handoff_then_silence_without_receipts(
    sim: Any, run_bot: Any, settings: BotSettings, pool: Pool, until: Until
) -> None:
    handed_off = [*GREETING, ("text", "Connecting you to our team.")]
    async with run_bot(settings):
        await sim.say("Hello")
        assert await sim.wait_for_replies(2) == GREETING
        await sim.say("I want a human agent")
        assert await sim.wait_for_replies(3) == handed_off
        await sim.say("Hello? Anyone?")
        await until(lambda: turns_done(pool, 3), "the third turn to be recorded")
        assert await sim.replies() == handed_off
    [conversation] = await rows(
        pool, "SELECT handoff_state FROM conversations WHERE tenant_id = $1", TENANT
    )
    assert conversation["handoff_state"] != "bot"
    if sim.name == "meta":  # the human-owned turn is neither read nor "typed" by the bot
        assert len(await sim.receipts()) == 2


async def test_outside_the_24h_window_the_template_is_sent(
    sim: Any, engine: ConversationEngine, pool: Pool
) -> None:
    old = time.time() - 25 * 3600
    await engine.handle_turn(make_turn(customer_message("Hello", received_at=old)))
    assert await sim.replies() == [("template", TEMPLATE)]
    states = [(r["kind"], r["delivery_state"]) for r in await outbound(pool)]
    assert states == [("template", "queued"), ("buttons", "failed")]


async def test_delivery_states_and_the_asynchronous_window_failure(
    sim: Any, run_bot: Any, settings: BotSettings, pool: Pool, until: Until
) -> None:
    async with run_bot(settings):
        await sim.say("Hello")
        assert await sim.wait_for_replies(2) == GREETING

        async def recorded() -> bool:
            return all(r["provider_message_id"] for r in await outbound(pool))

        await until(recorded, "both sends to be recorded")
        first, second = await sim.sent_ids()
        for state in ("sent", "delivered", "read"):
            await sim.status(first, state)
        await sim.status(second, "sent")
        await sim.status(second, "failed", "131047")

        async def settled() -> bool:
            found = [(r["delivery_state"], r["delivery_error_code"]) for r in await outbound(pool)]
            return found == [("read", None), ("failed", "131047")]

        await until(settled, "the reports to reach 'read' and 'failed (131047)'")


async def test_exactly_once_under_redelivery_and_reruns(
    sim: Any,
    run_bot: Any,
    settings: BotSettings,
    engine: ConversationEngine,
    pool: Pool,
    until: Until,
) -> None:
    async with run_bot(settings):
        await sim.say("Hello", duplicates=3)  # the provider delivers the webhook 4 times
        assert await sim.wait_for_replies(2) == GREETING
        await until(lambda: turns_done(pool, 1), "the turn to be recorded")
    assert await sim.replies() == GREETING
    assert len(await outbound(pool)) == 2

    # the same turn run again (a retry after a crash) sends nothing new
    turn = make_turn(customer_message("Talk to us", reply_id="human"), turn_id="turn-rerun")
    await engine.handle_turn(turn)
    after_first = await sim.replies()
    assert len(after_first) > 2
    await engine.handle_turn(turn)
    assert await sim.replies() == after_first
