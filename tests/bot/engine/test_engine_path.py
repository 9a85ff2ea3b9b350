"""Full path of the engine: a Turn -> flow / LLM -> replies recorded by the MSG91 simulator with
the exact expected bodies -> history rows in PostgreSQL (real Redis, PostgreSQL, simulators)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import (
    CUSTOMER,
    NUMBER,
    PRIMARY,
    TENANT,
    customer_message,
    make_turn,
)
from supportbot.llm.pii import pseudonymous_user
from supportbot.llm.simulator.replies import reply_text
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.storage.db import Pool

MENU = {
    "integrated_number": NUMBER,
    "recipient_number": CUSTOMER,
    "content_type": "interactive",
    "interactive": {
        "type": "button",
        "body": {"text": "How can we help?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "hours", "title": "Opening hours"}},
                {"type": "reply", "reply": {"id": "ask", "title": "Ask a question"}},
                {"type": "reply", "reply": {"id": "human", "title": "Talk to us"}},
            ]
        },
    },
}


def text_body(text: str) -> dict[str, Any]:
    return {
        "integrated_number": NUMBER,
        "recipient_number": CUSTOMER,
        "content_type": "text",
        "text": text,
    }


def sim_reply(model: str, user_text: str) -> str:
    return reply_text(model, [{"role": "user", "content": user_text}])


async def bodies(msg91: SimulatorClient) -> list[dict[str, Any]]:
    return [m["body"] for m in await msg91.accepted(CUSTOMER)]


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def test_first_contact_greets_and_shows_the_menu(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, aredis: aioredis.Redis
) -> None:
    hello = customer_message("Hello")
    await engine.handle_turn(make_turn(hello, turn_id="turn-hello"))

    assert await bodies(msg91) == [text_body("Hi Asha!"), MENU]
    accepted = await msg91.accepted(CUSTOMER)
    messages = await rows(
        pool,
        "SELECT direction, author, provider_message_id, turn_id, seq, kind, text, delivery_state"
        " FROM messages WHERE tenant_id = $1 ORDER BY id",
        TENANT,
    )
    assert messages == [
        {
            "direction": "inbound",
            "author": "customer",
            "provider_message_id": hello.message_id,
            "turn_id": None,
            "seq": None,
            "kind": "text",
            "text": "Hello",
            "delivery_state": None,
        },
        {
            "direction": "outbound",
            "author": "bot",
            "provider_message_id": accepted[0]["message_ids"][0],
            "turn_id": "turn-hello",
            "seq": 0,
            "kind": "text",
            "text": "Hi Asha!",
            "delivery_state": "queued",
        },
        {
            "direction": "outbound",
            "author": "bot",
            "provider_message_id": accepted[1]["message_ids"][0],
            "turn_id": "turn-hello",
            "seq": 1,
            "kind": "buttons",
            "text": "How can we help?",
            "delivery_state": "queued",
        },
    ]
    turns = await rows(pool, "SELECT turn_id, attempt, outcome, model FROM turns")
    assert turns == [{"turn_id": "turn-hello", "attempt": 1, "outcome": "greeting", "model": None}]
    conversation = await rows(
        pool, "SELECT phone, name, handoff_state, opted_out FROM conversations"
    )
    assert conversation == [
        {"phone": CUSTOMER, "name": "Asha", "handoff_state": "bot", "opted_out": False}
    ]
    raw = await aredis.get(f"sb:{TENANT}:session:{CUSTOMER}")
    assert raw is not None
    session = json.loads(raw)
    assert session["data"]["flow"]["step"] == "menu"
    assert session["data"]["flow"]["greeted"] is True
    assert 3500 < await aredis.ttl(f"sb:{TENANT}:session:{CUSTOMER}") <= 3600


async def test_free_text_is_answered_by_the_llm_with_history_and_masked_pii(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await engine.handle_turn(make_turn(customer_message("Hello")))
    await engine.handle_turn(make_turn(customer_message("Ask a question", reply_id="ask")))
    question = "Call me on +91 98765 43210 or mail asha@example.com: when do you open?"
    await engine.handle_turn(make_turn(customer_message(question), turn_id="turn-q"))

    masked = "Call me on [phone] or mail [email]: when do you open?"
    answer = sim_reply(PRIMARY, masked)
    assert (await bodies(msg91))[-2:] == [text_body("Type your question."), text_body(answer)]

    [request] = await llm_sim.requests()
    assert request["model"] == PRIMARY
    assert request["user"] == pseudonymous_user(TENANT, CUSTOMER)
    assert request["messages"] == [
        {"role": "system", "content": "You are the assistant of Test Shop."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi Asha!"},
        {"role": "assistant", "content": "How can we help?"},
        {"role": "user", "content": "Ask a question"},
        {"role": "assistant", "content": "Type your question."},
        {"role": "user", "content": masked},
    ]
    [turn] = await rows(
        pool,
        "SELECT outcome, model, prompt_tokens, completion_tokens, cost, latency_ms, error"
        " FROM turns WHERE turn_id = 'turn-q'",
    )
    assert turn["outcome"] == "llm" and turn["model"] == PRIMARY and turn["error"] is None
    assert turn["prompt_tokens"] > 0 and turn["completion_tokens"] > 0 and turn["cost"] > 0
    assert turn["latency_ms"] > 0
    # the raw text (with the phone number) stays in the bot's own database
    stored = await rows(pool, "SELECT text FROM messages WHERE text LIKE 'Call me%'")
    assert stored == [{"text": question}]
    ref = hashlib.sha256(masked.encode()).hexdigest()[:8]
    assert ref in answer
