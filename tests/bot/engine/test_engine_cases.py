"""Engine behaviour with real Redis, PostgreSQL and both simulators: LLM fallbacks, retried
turns, throttling, opt-out, handoff and the 24 h window."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.engine import control
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.plan import THROTTLE_NOTICE
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import (
    CUSTOMER,
    FALLBACK,
    NUMBER,
    PRIMARY,
    TEMPLATE,
    TENANT,
    customer_message,
    make_turn,
)
from supportbot.llm.simulator.replies import reply_text
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.messages import TurnDeferred
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.sending import DeliveryDeferred
from supportbot.provider.window import OUTSIDE_WINDOW_NO_TEMPLATE, OUTSIDE_WINDOW_TEMPLATE_SENT
from supportbot.storage.db import Pool

HANDOFF_TEXT = "Connecting you to our team."


def text_body(text: str) -> dict[str, Any]:
    return {
        "integrated_number": NUMBER,
        "recipient_number": CUSTOMER,
        "content_type": "text",
        "text": text,
    }


def answer(model: str, text: str) -> dict[str, Any]:
    return text_body(reply_text(model, [{"role": "user", "content": text}]))


async def bodies(msg91: SimulatorClient) -> list[dict[str, Any]]:
    return [m["body"] for m in await msg91.accepted(CUSTOMER)]


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def say(engine: ConversationEngine, text: str, **fields: Any) -> str:
    message = customer_message(text, **fields)
    turn = make_turn(message)
    await engine.handle_turn(turn)
    return turn.turn_id


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def outcome_of(pool: Pool, turn_id: str) -> str:
    [row] = await rows(
        pool, "SELECT outcome FROM turns WHERE turn_id = $1 ORDER BY attempt DESC LIMIT 1", turn_id
    )
    return str(row["outcome"])


async def test_primary_503_the_fallback_model_answers(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    await llm_sim.add_fault("unavailable", model=PRIMARY)
    turn_id = await say(engine, "Do you ship to Pune?")

    assert (await bodies(msg91))[-1] == answer(FALLBACK, "Do you ship to Pune?")
    tried = [(r["model"], r["status"]) for r in await llm_sim.requests()]
    assert tried == [(PRIMARY, 503), (FALLBACK, 200)]
    [turn] = await rows(pool, "SELECT outcome, model FROM turns WHERE turn_id = $1", turn_id)
    assert turn == {"outcome": "llm", "model": FALLBACK}


async def test_all_models_down_fallback_message_and_human_offer(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    await llm_sim.add_fault("unavailable")
    turn_id = await say(engine, "Do you ship to Pune?")

    assert (await bodies(msg91))[-1] == {
        "integrated_number": NUMBER,
        "recipient_number": CUSTOMER,
        "content_type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Sorry, I can't answer that right now."},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "sb:handoff", "title": "Talk to a human"}}
                ]
            },
        },
    }
    [turn] = await rows(pool, "SELECT outcome, model, error FROM turns WHERE turn_id = $1", turn_id)
    assert turn["outcome"] == "llm_fallback" and turn["model"] is None
    assert "no LLM answer" in turn["error"]

    # the customer taps the offer: handed to a human
    await say(engine, "Talk to a human", reply_id="sb:handoff")
    assert (await bodies(msg91))[-1] == text_body(HANDOFF_TEXT)
    [conv] = await rows(pool, "SELECT handoff_state, handoff_reason FROM conversations")
    assert conv == {"handoff_state": "pending", "handoff_reason": "fallback_offer"}


async def test_a_retried_turn_sends_its_reply_once_and_asks_the_llm_once(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    question = customer_message("Do you ship to Pune?")
    await engine.handle_turn(make_turn(question, turn_id="turn-r", attempt=1))
    await engine.handle_turn(make_turn(question, turn_id="turn-r", attempt=2))

    assert (await bodies(msg91))[2:] == [answer(PRIMARY, "Do you ship to Pune?")]
    assert len(await llm_sim.requests()) == 1
    outbound = await rows(pool, "SELECT seq FROM messages WHERE turn_id = 'turn-r'")
    assert outbound == [{"seq": 0}]
    inbound = await rows(
        pool,
        "SELECT count(*) AS n FROM messages WHERE provider_message_id = $1",
        question.message_id,
    )
    assert inbound == [{"n": 1}]
    attempts = await rows(pool, "SELECT attempt, outcome FROM turns WHERE turn_id = 'turn-r'")
    assert sorted(a["attempt"] for a in attempts) == [1, 2]


async def test_a_turn_whose_delivery_failed_is_retried_with_the_same_answer(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    question = customer_message("Do you ship to Pune?")
    await msg91.fail_next(503, count=2)  # both attempts of the fast retry policy
    with pytest.raises(TurnDeferred) as caught:  # an outage of MSG91, not a failed turn
        await engine.handle_turn(make_turn(question, turn_id="turn-d", attempt=1))
    assert caught.value.dependency == "msg91"
    assert isinstance(caught.value.__cause__, DeliveryDeferred)
    assert await rows(pool, "SELECT outcome FROM turns WHERE turn_id = 'turn-d'") == []
    await engine.handle_turn(make_turn(question, turn_id="turn-d", attempt=2))

    assert (await bodies(msg91))[2:] == [answer(PRIMARY, "Do you ship to Pune?")]
    assert len(await llm_sim.requests()) == 1  # the retry followed the stored plan
    assert await outcome_of(pool, "turn-d") == "llm"
    [row] = await rows(pool, "SELECT provider_message_id FROM messages WHERE turn_id = 'turn-d'")
    assert row["provider_message_id"] is not None


async def test_throttled_messages_are_stored_not_answered_and_noticed_once(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    first = await say(engine, "are you there?", throttled=True, throttle_notice=True)
    await say(engine, "hello???", throttled=True)

    assert (await bodies(msg91))[2:] == [text_body(THROTTLE_NOTICE)]
    assert await llm_sim.requests() == []
    assert await outcome_of(pool, first) == "throttled"
    stored = await rows(pool, "SELECT text FROM messages WHERE direction = 'inbound' ORDER BY id")
    assert [r["text"] for r in stored] == ["Hello", "are you there?", "hello???"]


async def test_a_throttled_stop_is_still_honoured(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool
) -> None:
    await say(engine, "Hello")
    await say(engine, "STOP", throttled=True)
    assert (await bodies(msg91))[2:] == [text_body("You are unsubscribed. Reply START to resume.")]
    assert await rows(pool, "SELECT opted_out FROM conversations") == [{"opted_out": True}]


async def test_opt_out_is_honoured_until_opt_in(
    engine: ConversationEngine,
    msg91: SimulatorClient,
    pool: Pool,
    llm_sim: LLMSim,
    aredis: aioredis.Redis,
) -> None:
    await say(engine, "Hello")
    outs, ins = (
        sample("supportbot_opt_out_changes_total", change="opt_out"),
        sample("supportbot_opt_out_changes_total", change="opt_in"),
    )
    stop = await say(engine, "stop")
    assert (await bodies(msg91))[2:] == [text_body("You are unsubscribed. Reply START to resume.")]
    [conv] = await rows(pool, "SELECT opted_out, opted_out_since FROM conversations")
    assert conv["opted_out"] is True and conv["opted_out_since"] is not None
    assert await outcome_of(pool, stop) == "opt_out"

    quiet = await say(engine, "When do you open?")
    await aredis.delete(f"sb:{TENANT}:session:{CUSTOMER}")  # the session expired: still opted out
    await say(engine, "Hello again")
    assert len(await bodies(msg91)) == 3
    assert await llm_sim.requests() == []
    assert await outcome_of(pool, quiet) == "silent_opted_out"

    start = await say(engine, "START")
    assert (await bodies(msg91))[3:] == [text_body("Welcome back!")]
    assert await outcome_of(pool, start) == "opt_in"
    assert await rows(pool, "SELECT opted_out FROM conversations") == [{"opted_out": False}]
    assert sample("supportbot_opt_out_changes_total", change="opt_out") == outs + 1
    assert sample("supportbot_opt_out_changes_total", change="opt_in") == ins + 1
    stored = await rows(pool, "SELECT count(*) AS n FROM messages WHERE direction = 'inbound'")
    assert stored == [{"n": 5}]


async def test_bot_is_silent_while_handed_off_and_answers_after_hand_back(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    handoffs = sample("supportbot_handoffs_total", reason="keyword", source="bot")
    silent_turns = sample("supportbot_turns_total", outcome="silent_handed_off")
    asked = await say(engine, "I want an agent please")
    assert (await bodies(msg91))[2:] == [text_body(HANDOFF_TEXT)]
    assert await outcome_of(pool, asked) == "handoff"
    [conv] = await rows(pool, "SELECT handoff_state, handoff_reason FROM conversations")
    assert conv == {"handoff_state": "pending", "handoff_reason": "keyword"}

    silent = await say(engine, "Hello? Anyone?")
    assert len(await bodies(msg91)) == 3
    assert await outcome_of(pool, silent) == "silent_handed_off"
    assert sample("supportbot_handoffs_total", reason="keyword", source="bot") == handoffs + 1
    assert sample("supportbot_turns_total", outcome="silent_handed_off") == silent_turns + 1
    count = sample("supportbot_turn_duration_seconds_count", outcome="silent_handed_off")
    assert count >= 1
    stored = await rows(pool, "SELECT text FROM messages WHERE text = 'Hello? Anyone?'")
    assert stored == [{"text": "Hello? Anyone?"}]

    await control.hand_back(pool, TENANT, CUSTOMER)
    await say(engine, "When do you open?")
    assert (await bodies(msg91))[3:] == [answer(PRIMARY, "When do you open?")]
    assert [r["model"] for r in await llm_sim.requests()] == [PRIMARY]


async def test_outside_the_24h_window_the_template_is_sent(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool
) -> None:
    old = time.time() - 25 * 3600
    await say(engine, "Hello", received_at=old)

    assert await bodies(msg91) == [
        {
            "integrated_number": NUMBER,
            "content_type": "template",
            "payload": {
                "messaging_product": "whatsapp",
                "type": "template",
                "template": {
                    "name": TEMPLATE,
                    "language": {"code": "en", "policy": "deterministic"},
                    "to_and_components": [
                        {
                            "to": [CUSTOMER],
                            "components": {"body_1": {"type": "text", "value": "Asha"}},
                        }
                    ],
                },
            },
        }
    ]
    outbound = await rows(
        pool,
        "SELECT seq, kind, text, delivery_state, delivery_error_reason, provider_message_id"
        " IS NOT NULL AS has_id FROM messages WHERE direction = 'outbound' ORDER BY seq",
    )
    assert outbound == [
        {
            "seq": 0,
            "kind": "template",
            "text": TEMPLATE,
            "delivery_state": "queued",
            "delivery_error_reason": None,
            "has_id": True,
        },
        {
            "seq": 1,
            "kind": "buttons",
            "text": "How can we help?",
            "delivery_state": "failed",
            "delivery_error_reason": OUTSIDE_WINDOW_TEMPLATE_SENT,
            "has_id": False,
        },
    ]


async def test_outside_the_window_without_template_replies_are_undeliverable(
    make_settings: Any, msg91: SimulatorClient, pool: Pool, aredis: aioredis.Redis
) -> None:
    settings = make_settings(out_of_window_template_name="")
    async with engine_handler(settings, aredis) as engine:
        await say(engine, "Hello", received_at=time.time() - 25 * 3600)
    assert await msg91.messages() == []
    outbound = await rows(
        pool,
        "SELECT delivery_state, delivery_error_code, delivery_error_reason FROM messages"
        " WHERE direction = 'outbound' ORDER BY seq",
    )
    assert (
        outbound
        == [
            {
                "delivery_state": "failed",
                "delivery_error_code": "undeliverable",
                "delivery_error_reason": OUTSIDE_WINDOW_NO_TEMPLATE,
            }
        ]
        * 2
    )
