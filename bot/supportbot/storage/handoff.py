"""Who answers a conversation (bot or human: handoff) and whether the customer opted out.

Both live on the conversation row so the agent API lists them and the engine reads them with
the conversation; every statement filters on the tenant id.
"""

from __future__ import annotations

from datetime import datetime

from supportbot.storage.db import Pool, connection, to_datetime
from supportbot.storage.history import ENSURE_CONVERSATION
from supportbot.storage.models import Conversation, HandoffState


async def set_handoff(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    state: HandoffState,
    *,
    agent: str | None = None,
    reason: str | None = None,
    at: float | datetime | None = None,
) -> Conversation | None:
    """Move the conversation to `state` (BOT hands it back); None if it does not exist.

    `handoff_since` changes only when the state or the agent changes.
    """
    row = None
    async with connection(pool) as conn:
        row = await conn.fetchrow(
            """
            UPDATE conversations SET
                handoff_since = CASE
                    WHEN handoff_state IS DISTINCT FROM $3 OR handoff_agent IS DISTINCT FROM $4
                    THEN $6 ELSE handoff_since END,
                handoff_state = $3,
                handoff_agent = $4,
                handoff_reason = $5
            WHERE tenant_id = $1 AND customer_id = $2
            RETURNING *
            """,
            tenant_id,
            customer_id,
            state.value,
            None if state is HandoffState.BOT else agent,
            reason,
            to_datetime(at),
        )
    return None if row is None else Conversation.from_row(row)


async def clear_handoff(
    pool: Pool, tenant_id: str, customer_id: str, *, at: float | datetime | None = None
) -> Conversation | None:
    """Hand the conversation back to the bot."""
    return await set_handoff(pool, tenant_id, customer_id, HandoffState.BOT, at=at)


async def set_opt_out(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    opted_out: bool,
    *,
    at: float | datetime | None = None,
) -> Conversation:
    """Record an opt-out (STOP) or opt-in (START); creates the conversation if needed."""
    when = to_datetime(at)
    async with connection(pool) as conn, conn.transaction():
        await conn.execute(ENSURE_CONVERSATION, tenant_id, customer_id, when)
        row = await conn.fetchrow(
            """
            UPDATE conversations SET
                opted_out_since = CASE WHEN opted_out = $3 THEN opted_out_since
                                       WHEN $3 THEN $4 END,
                opted_out = $3
            WHERE tenant_id = $1 AND customer_id = $2
            RETURNING *
            """,
            tenant_id,
            customer_id,
            opted_out,
            when,
        )
    assert row is not None  # ensured above, inside the same transaction
    return Conversation.from_row(row)
