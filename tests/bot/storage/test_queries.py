"""Agent-API reads: ordering, keyset pagination, search, filters."""

from __future__ import annotations

import pytest

from supportbot.messages import InboundMessage, MessageKind, OutboundKind, OutboundMessage
from supportbot.storage import handoff, history, queries
from supportbot.storage.db import Pool
from supportbot.storage.models import HandoffState
from supportbot.storage.queries import BadCursorError

T0 = 1_780_000_000.0


async def say(pool: Pool, customer: str, mid: str, text: str, at: float, name: str = "") -> None:
    msg = InboundMessage(
        tenant_id="acme",
        customer_id=customer,
        message_id=mid,
        kind=MessageKind.TEXT,
        received_at=at,
        phone=customer,
        text=text,
        customer_name=name or None,
    )
    await history.record_inbound(pool, [msg])


async def test_pages_walk_newest_activity_first(pool: Pool) -> None:
    for i in range(7):
        await say(pool, f"9198000000{i:02d}", f"m{i}", f"hello {i}", T0 + i)
    # an outbound reply counts as activity too
    await history.record_outbound(
        pool, "acme", "919800000002", "t", 0, OutboundMessage(OutboundKind.TEXT, "x"), at=T0 + 100
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = await queries.list_conversations(pool, "acme", limit=3, cursor=cursor)
        seen += [c.customer_id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [
        "919800000002",
        "919800000006",
        "919800000005",
        "919800000004",
        "919800000003",
        "919800000001",
        "919800000000",
    ]


async def test_search_matches_names_numbers_and_message_words(pool: Pool) -> None:
    await say(pool, "919800000001", "a", "Where is my refund?", T0, name="Asha Kumar")
    await say(pool, "919800000002", "b", "order 1042 is late", T0 + 1, name="Ravi")
    await say(pool, "447700900123", "c", "hi", T0 + 2, name="100%_real")

    async def ids(q: str) -> list[str]:
        return [
            c.customer_id for c in (await queries.list_conversations(pool, "acme", query=q)).items
        ]

    assert await ids("asha") == ["919800000001"]
    assert await ids("refund") == ["919800000001"]
    assert await ids("late order") == ["919800000002"]
    assert await ids("4477009") == ["447700900123"]
    assert await ids("100%_") == ["447700900123"], "LIKE wildcards are literal"
    assert await ids("9%") == []
    assert await ids("nothing-like-this") == []
    assert len(await ids("   ")) == 3, "blank query lists everything"


async def test_filter_by_handoff_state(pool: Pool) -> None:
    await say(pool, "c1", "1", "a", T0)
    await say(pool, "c2", "2", "b", T0 + 1)
    await handoff.set_handoff(pool, "acme", "c1", HandoffState.HUMAN, agent="ann")
    page = await queries.list_conversations(pool, "acme", handoff=HandoffState.HUMAN)
    assert [c.customer_id for c in page.items] == ["c1"]
    page = await queries.list_conversations(pool, "acme", handoff=HandoffState.BOT)
    assert [c.customer_id for c in page.items] == ["c2"]


async def test_message_pages_are_chronological(pool: Pool) -> None:
    for i in range(5):
        await say(pool, "c1", f"m{i}", f"text {i}", T0 + i)
    latest = await queries.get_messages(pool, "acme", "c1", limit=2)
    assert [m.text for m in latest] == ["text 3", "text 4"]
    older = await queries.get_messages(pool, "acme", "c1", limit=2, before_id=latest[0].id)
    assert [m.text for m in older] == ["text 1", "text 2"]
    one = await queries.get_message(pool, "acme", latest[0].id)
    assert one is not None and one.text == "text 3"
    assert await queries.get_message(pool, "other", latest[0].id) is None


async def test_bad_cursor_is_a_typed_error(pool: Pool) -> None:
    with pytest.raises(BadCursorError):
        await queries.list_conversations(pool, "acme", cursor="not-a-cursor")
