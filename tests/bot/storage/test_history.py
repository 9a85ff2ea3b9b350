"""History writes: idempotent inbound/outbound, turns, handoff, opt-out, tenant isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from supportbot.messages import (
    DeliveryState,
    InboundMessage,
    MessageKind,
    OutboundKind,
    OutboundMessage,
    ReplyButton,
)
from supportbot.outbound import PgDeliveryStateStore
from supportbot.provider.dlr import DeliveryRecord
from supportbot.storage import delivery, handoff, history, queries
from supportbot.storage.db import Pool, connection
from supportbot.storage.models import Direction, HandoffState, TurnRecord

T0 = 1_780_000_000.0


def inbound(
    mid: str,
    *,
    tenant: str = "acme",
    customer: str = "919800000001",
    text: str = "hello",
    at: float = T0,
    name: str | None = "Asha",
) -> InboundMessage:
    return InboundMessage(
        tenant_id=tenant,
        customer_id=customer,
        message_id=mid,
        kind=MessageKind.TEXT,
        received_at=at,
        phone=customer,
        text=text,
        customer_name=name,
        sent_at=at - 2,
        extra={"k": [1, 2]},
    )


async def count(pool: Pool, sql: str, *args: object) -> int:
    async with connection(pool) as conn:
        return int(await conn.fetchval(sql, *args))


async def test_inbound_is_stored_once_per_provider_id(pool: Pool) -> None:
    first = await history.record_inbound(pool, [inbound("m1"), inbound("m2", at=T0 + 1)])
    again = await history.record_inbound(pool, [inbound("m2", at=T0 + 1), inbound("m3", at=T0 + 2)])
    assert first == ["m1", "m2"]
    assert again == ["m3"]
    assert await count(pool, "SELECT count(*) FROM messages") == 3
    msgs = await queries.get_messages(pool, "acme", "919800000001")
    assert [m.provider_message_id for m in msgs] == ["m1", "m2", "m3"]
    m1 = msgs[0]
    assert m1.direction is Direction.INBOUND and m1.author == "customer"
    assert m1.text == "hello" and m1.kind == "text"
    assert m1.created_at == datetime.fromtimestamp(T0, UTC)
    assert m1.provider_ts == datetime.fromtimestamp(T0 - 2, UTC)
    assert m1.body["extra"] == {"k": [1, 2]}
    assert InboundMessage.from_json(__import__("json").dumps(m1.body)) == inbound("m1")


async def test_concurrent_duplicate_inbound_stores_one_row(pool: Pool) -> None:
    results = await asyncio.gather(
        *(history.record_inbound(pool, [inbound("dup")]) for _ in range(5))
    )
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 1]
    assert await count(pool, "SELECT count(*) FROM messages") == 1


async def test_conversation_tracks_identity_and_window(pool: Pool) -> None:
    await history.record_inbound(pool, [inbound("m1", at=T0, name=None)])
    await history.record_inbound(pool, [inbound("m2", at=T0 + 60, name="Asha K")])
    await history.record_inbound(pool, [inbound("old", at=T0 - 600)])  # late redelivery
    conv = await queries.get_conversation(pool, "acme", "919800000001")
    assert conv is not None
    assert conv.name == "Asha K" and conv.phone == "919800000001"
    assert conv.last_inbound_at == datetime.fromtimestamp(T0 + 60, UTC), "never moves back"
    assert conv.created_at == datetime.fromtimestamp(T0, UTC)
    assert conv.handoff_state is HandoffState.BOT and not conv.opted_out


async def test_outbound_is_recorded_once_per_turn_and_seq(pool: Pool) -> None:
    await history.record_inbound(pool, [inbound("m1")])
    reply = OutboundMessage(
        kind=OutboundKind.BUTTONS, text="Pick one", buttons=(ReplyButton("a", "A"),)
    )
    first = await history.record_outbound(pool, "acme", "919800000001", "turn-1", 0, reply)
    assert first.created and not first.already_sent
    assert first.delivery_state is DeliveryState.QUEUED
    await delivery.update_outbound(
        pool, "acme", "turn-1", 0, DeliveryState.SENT, provider_message_id="out-1"
    )
    retried = await history.record_outbound(pool, "acme", "919800000001", "turn-1", 0, reply)
    assert not retried.created and retried.id == first.id
    assert retried.already_sent and retried.provider_message_id == "out-1"
    assert retried.delivery_state is DeliveryState.SENT
    second = await history.record_outbound(pool, "acme", "919800000001", "turn-1", 1, reply)
    assert second.created
    out = [m for m in await queries.get_messages(pool, "acme", "919800000001") if m.seq is not None]
    assert [(m.turn_id, m.seq, m.direction) for m in out] == [
        ("turn-1", 0, Direction.OUTBOUND),
        ("turn-1", 1, Direction.OUTBOUND),
    ]
    assert out[0].body["buttons"] == [{"id": "a", "title": "A"}]
    conv = await queries.get_conversation(pool, "acme", "919800000001")
    assert conv is not None and conv.last_outbound_at is not None


async def test_concurrent_retries_of_a_reply_create_one_row(pool: Pool) -> None:
    reply = OutboundMessage(kind=OutboundKind.TEXT, text="hi")
    results = await asyncio.gather(
        *(history.record_outbound(pool, "acme", "c1", "turn-x", 0, reply) for _ in range(6))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.id for r in results}) == 1


async def test_turn_records_upsert_per_attempt(pool: Pool) -> None:
    rec = TurnRecord("acme", "c1", "turn-1", 1, outcome="error", error="timeout", at=T0)
    first = await history.record_turn(pool, rec)
    done = TurnRecord(
        "acme",
        "c1",
        "turn-1",
        1,
        outcome="replied",
        model="m/a",
        prompt_tokens=10,
        completion_tokens=5,
        cost=0.001,
        latency_ms=1200.5,
        at=T0,
    )
    assert await history.record_turn(pool, done) == first
    await history.record_turn(pool, TurnRecord("acme", "c1", "turn-1", 2, outcome="replied"))
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT attempt, outcome, model, prompt_tokens, completion_tokens, cost, latency_ms,"
            " error FROM turns WHERE tenant_id = 'acme' ORDER BY attempt"
        )
    assert [tuple(r) for r in rows] == [
        (1, "replied", "m/a", 10, 5, 0.001, 1200.5, None),
        (2, "replied", None, None, None, None, None, None),
    ]


async def test_handoff_and_hand_back(pool: Pool) -> None:
    await history.record_inbound(pool, [inbound("m1")])
    assert await handoff.set_handoff(pool, "acme", "nobody", HandoffState.HUMAN) is None
    conv = await handoff.set_handoff(
        pool, "acme", "919800000001", HandoffState.PENDING, reason="asked", at=T0
    )
    assert conv is not None and conv.bot_silent
    assert conv.handoff_since == datetime.fromtimestamp(T0, UTC)
    conv = await handoff.set_handoff(
        pool, "acme", "919800000001", HandoffState.HUMAN, agent="ann", at=T0 + 5
    )
    assert conv is not None and conv.handoff_agent == "ann"
    assert conv.handoff_since == datetime.fromtimestamp(T0 + 5, UTC)
    same = await handoff.set_handoff(
        pool, "acme", "919800000001", HandoffState.HUMAN, agent="ann", at=T0 + 9
    )
    assert same is not None and same.handoff_since == conv.handoff_since, "unchanged owner"
    back = await handoff.clear_handoff(pool, "acme", "919800000001", at=T0 + 20)
    assert back is not None and not back.bot_silent
    assert back.handoff_state is HandoffState.BOT and back.handoff_agent is None


async def test_opt_out_and_back_in(pool: Pool) -> None:
    conv = await handoff.set_opt_out(pool, "acme", "c9", True, at=T0)
    assert conv.opted_out and conv.opted_out_since == datetime.fromtimestamp(T0, UTC)
    again = await handoff.set_opt_out(pool, "acme", "c9", True, at=T0 + 50)
    assert again.opted_out_since == datetime.fromtimestamp(T0, UTC), "first STOP counts"
    back = await handoff.set_opt_out(pool, "acme", "c9", False, at=T0 + 99)
    assert not back.opted_out and back.opted_out_since is None


async def test_tenants_never_see_each_others_rows(pool: Pool) -> None:
    same_customer = "919800000001"
    await history.record_inbound(pool, [inbound("x1", tenant="acme", text="acme secret")])
    await history.record_inbound(pool, [inbound("x1", tenant="beta", text="beta secret")])
    assert await count(pool, "SELECT count(*) FROM messages") == 2, "ids are per tenant"
    await handoff.set_handoff(pool, "beta", same_customer, HandoffState.HUMAN, agent="b")
    await handoff.set_opt_out(pool, "beta", same_customer, True)
    await history.record_outbound(
        pool, "beta", same_customer, "t", 0, OutboundMessage(OutboundKind.TEXT, "b-reply")
    )
    await delivery.update_outbound(
        pool, "beta", "t", 0, DeliveryState.SENT, provider_message_id="p-beta"
    )

    acme = await queries.get_conversation(pool, "acme", same_customer)
    assert acme is not None and acme.handoff_state is HandoffState.BOT and not acme.opted_out
    texts = [m.text for m in await queries.get_messages(pool, "acme", same_customer)]
    assert texts == ["acme secret"]
    page = await queries.list_conversations(pool, "acme", query="secret")
    assert [c.tenant_id for c in page.items] == ["acme"]
    assert (await queries.list_conversations(pool, "acme", query="b-reply")).items == []
    store = PgDeliveryStateStore(pool)
    assert await store.load("acme", "p-beta") is None
    read = DeliveryRecord("p-beta", DeliveryState.READ)
    assert not await store.compare_and_set("acme", DeliveryState.SENT, read)
    beta = await store.load("beta", "p-beta")
    assert beta is not None and beta.state is DeliveryState.SENT
