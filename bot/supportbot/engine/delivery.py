"""The one delivery path of bot turns and agent replies: history rows + MSG91 `Deliverer`.

`deliver_replies` records every planned reply in PostgreSQL first (``messages`` row keyed by
(tenant, turn id, seq), state ``queued``; a retry finds the existing rows, and a row that already
has a provider id tells the deliverer the reply was accepted even if Redis lost its marker in a
restart), then sends them
through `provider.deliverer.Deliverer.send_turn_replies` (in order, 24 h window rules, exactly once
per (turn id, seq) through Redis claims fenced by the turn runner's conversation lease), then
marks the replies that turned out undeliverable as ``failed`` with the reason. The MSG91
attempt recorder (`outbound.PgAttemptRecorder`) attaches the provider id of each accepted send to
its row, which is what delivery reports later advance.

The 24 h window is decided once per call (`Deliverer.plan`): the rows recorded and the replies
sent follow the same plan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from supportbot.messages import DeliveryState, OutboundMessage
from supportbot.provider.deliverer import (
    Deliverer,
    Recipient,
    ReplyOutcome,
    ReplyStatus,
    SendFence,
)
from supportbot.provider.window import PlannedReply
from supportbot.storage import delivery, history
from supportbot.storage.db import Pool
from supportbot.storage.models import Conversation

log = logging.getLogger(__name__)

UNDELIVERABLE_CODE = "undeliverable"


def recipient_of(conversation: Conversation) -> Recipient:
    """Where replies of this conversation go, and when its 24 h window opened."""
    last = conversation.last_inbound_at
    return Recipient(
        customer_id=conversation.customer_id,
        phone=conversation.phone,
        bsuid=conversation.bsuid,
        last_inbound_at=None if last is None else last.timestamp(),
    )


async def record_planned(
    pool: Pool,
    tenant_id: str,
    recipient: Recipient,
    turn_id: str,
    plan: Sequence[PlannedReply],
    *,
    author: str,
    at: float | datetime | None = None,
) -> dict[int, str]:
    """Store the rows of the planned replies (idempotent); returns the provider ids of those
    whose rows say they were already accepted (seq -> id)."""
    accepted: dict[int, str] = {}
    for planned in plan:
        skipped = planned.skip_reason is not None
        row = await history.record_outbound(
            pool,
            tenant_id,
            recipient.customer_id,
            turn_id,
            planned.seq,
            planned.message,
            replaces=planned.original if planned.substituted else None,
            author=author,
            state=DeliveryState.FAILED if skipped else DeliveryState.QUEUED,
            error_code=UNDELIVERABLE_CODE if skipped else None,
            error_reason=planned.skip_reason,
            at=at,
        )
        if row.provider_message_id is not None:
            accepted[planned.seq] = row.provider_message_id
    return accepted


async def deliver_replies(
    pool: Pool,
    deliverer: Deliverer,
    recipient: Recipient,
    turn_id: str,
    messages: Sequence[OutboundMessage],
    *,
    author: str = "bot",
    fence: SendFence | None = None,
) -> list[ReplyOutcome]:
    """Record, send (exactly once per turn id and seq) and settle the replies of one turn.

    Raises `DeliveryDeferred` when MSG91 kept failing (retry the whole call later with the same
    `turn_id`: replies already sent are not sent again) and `SendFenced` when the caller no
    longer holds `fence` (the turn runner's conversation lease): nothing more is sent then.
    """
    if not messages:
        return []
    plan = deliverer.plan(recipient, messages)
    accepted = await record_planned(
        pool, deliverer.tenant_id, recipient, turn_id, plan, author=author
    )
    outcomes = await deliverer.send_turn_replies(
        turn_id, recipient, messages, fence=fence, accepted=accepted, plan=plan
    )
    for outcome in outcomes:
        await _settle(pool, deliverer.tenant_id, turn_id, outcome)
    return outcomes


async def _settle(pool: Pool, tenant_id: str, turn_id: str, outcome: ReplyOutcome) -> None:
    if outcome.status is ReplyStatus.UNDELIVERABLE:
        await delivery.update_outbound(
            pool,
            tenant_id,
            turn_id,
            outcome.seq,
            DeliveryState.FAILED,
            error_code=outcome.error_code or UNDELIVERABLE_CODE,
            error_reason=outcome.reason,
        )
    elif outcome.provider_message_id is not None:
        # The attempt recorder normally did this already; repeat it (a no-op then) in case its
        # write failed, so delivery reports can still find the message.
        await delivery.update_outbound(
            pool,
            tenant_id,
            turn_id,
            outcome.seq,
            DeliveryState.QUEUED,
            provider_message_id=outcome.provider_message_id,
        )
