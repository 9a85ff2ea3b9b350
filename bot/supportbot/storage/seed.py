"""Demo data for a development database (`supportbot storage seed`), written through the
repository so it exercises the same paths as the bot. Re-running it adds nothing: every row has
a fixed provider id / turn id. Numbers are fictitious (+91 99999 0000x)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from supportbot.messages import (
    DeliveryState,
    InboundMessage,
    MessageKind,
    OutboundKind,
    OutboundMessage,
    ReplyButton,
)
from supportbot.storage import delivery, handoff, history
from supportbot.storage.db import Pool
from supportbot.storage.models import HandoffState, TurnRecord


@dataclass(frozen=True, slots=True)
class SeedReport:
    conversations: int
    new_messages: int


def _inbound(tenant: str, phone: str, mid: str, text: str, at: float, name: str) -> InboundMessage:
    return InboundMessage(
        tenant_id=tenant,
        customer_id=phone,
        message_id=mid,
        kind=MessageKind.TEXT,
        received_at=at,
        phone=phone,
        text=text,
        customer_name=name,
        sent_at=at - 1,
    )


async def seed_demo(pool: Pool, tenant_id: str = "demo", now: float | None = None) -> SeedReport:
    t0 = (time.time() if now is None else now) - 3600
    people = [
        ("919999900001", "Asha", "Where is my order #1042?"),
        ("919999900002", "Ravi", "I want to talk to a human"),
        ("919999900003", "Meera", "STOP"),
    ]
    new = 0
    for i, (phone, name, text) in enumerate(people):
        at = t0 + i * 600
        msg = _inbound(tenant_id, phone, f"demo-in-{tenant_id}-{i}", text, at, name)
        new += len(await history.record_inbound(pool, [msg]))
        turn_id = f"demo-turn-{tenant_id}-{i}"
        await history.record_turn(
            pool,
            TurnRecord(
                tenant_id,
                phone,
                turn_id,
                1,
                outcome="replied",
                model="demo/model",
                prompt_tokens=120,
                completion_tokens=40,
                cost=0.00021,
                latency_ms=850.0,
                at=at + 1,
            ),
        )
        reply = OutboundMessage(
            kind=OutboundKind.BUTTONS,
            text=f"Hi {name}! How can we help?",
            buttons=(ReplyButton("order", "Track order"), ReplyButton("human", "Talk to us")),
        )
        out = await history.record_outbound(pool, tenant_id, phone, turn_id, 0, reply, at=at + 2)
        if out.created:
            new += 1
        pid = f"demo-out-{tenant_id}-{i}"
        await delivery.update_outbound(
            pool, tenant_id, turn_id, 0, DeliveryState.SENT, provider_message_id=pid, at=at + 2
        )
        await delivery.update_outbound(
            pool, tenant_id, turn_id, 0, DeliveryState.DELIVERED, at=at + 3
        )
        await delivery.record_attempt(
            pool,
            tenant_id,
            turn_id=turn_id,
            seq=0,
            attempt=1,
            http_status=200,
            error=None,
            duration_ms=120.0,
            at=at + 2,
        )
    await handoff.set_handoff(
        pool, tenant_id, people[1][0], HandoffState.HUMAN, agent="agent-1", reason="customer asked"
    )
    await handoff.set_opt_out(pool, tenant_id, people[2][0], True, at=t0 + 1200)
    return SeedReport(conversations=len(people), new_messages=new)
