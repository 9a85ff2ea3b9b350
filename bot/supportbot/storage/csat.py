"""CSAT surveys in PostgreSQL (``csat_surveys``, migration 0003_csat).

One row per resolution of a conversation: the quiet period after the customer's last message
(`since_inbound` = the conversation's ``last_inbound_at`` when the row is made). A flow end, an
agent's "resolved" handback and the idle scan of one period all land on the same row (the unique
key), which is how a customer is never asked twice for one resolution. States: ``pending`` (made,
due at `due_at`) -> ``asked`` (the question was sent) -> ``answered`` (first rating wins), or
``skipped`` with the reason (opted out, window closed, conversation continued, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from supportbot.storage.db import Connection, Pool, connection

Trigger = Literal["flow_end", "agent_resolved", "idle"]
TRIGGERS: tuple[Trigger, ...] = ("flow_end", "agent_resolved", "idle")


@dataclass(frozen=True)
class Survey:
    id: int
    tenant_id: str
    customer_id: str
    since_inbound: datetime
    trigger: str
    created_at: datetime
    due_at: datetime
    status: str
    skip_reason: str | None
    asked_at: datetime | None
    rating: int | None
    scale: int | None
    answered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Survey:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


_CREATE = """
INSERT INTO csat_surveys (tenant_id, customer_id, since_inbound, trigger, created_at, due_at)
SELECT c.tenant_id, c.customer_id, c.last_inbound_at, $3, $4::timestamptz,
       $4::timestamptz + make_interval(secs => $5::double precision)
FROM conversations c
WHERE c.tenant_id = $1 AND c.customer_id = $2 AND c.last_inbound_at IS NOT NULL
ON CONFLICT (tenant_id, customer_id, since_inbound) DO NOTHING
RETURNING id
"""


async def create(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    trigger: Trigger,
    *,
    now: datetime,
    delay_seconds: float,
) -> int | None:
    """A pending survey for the conversation's current resolution; None when that resolution
    already has one (or the customer never wrote)."""
    async with connection(pool) as conn:
        found: int | None = await conn.fetchval(
            _CREATE, tenant_id, customer_id, trigger, now, float(delay_seconds)
        )
    return found


_CREATE_IDLE = """
INSERT INTO csat_surveys (tenant_id, customer_id, since_inbound, trigger, created_at, due_at)
SELECT c.tenant_id, c.customer_id, c.last_inbound_at, 'idle', $2::timestamptz, $2::timestamptz
FROM conversations c
WHERE c.tenant_id = $1
  AND c.last_activity_at < $3 AND c.last_activity_at > $4
  AND c.handoff_state = 'bot' AND NOT c.opted_out
  AND c.last_inbound_at IS NOT NULL AND c.last_inbound_at > $4
  AND c.last_outbound_at >= c.last_inbound_at
  AND NOT EXISTS (
        SELECT 1 FROM csat_surveys s
        WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.customer_id
          AND s.since_inbound = c.last_inbound_at)
ORDER BY c.last_activity_at
LIMIT $5
ON CONFLICT (tenant_id, customer_id, since_inbound) DO NOTHING
"""


async def create_idle(
    pool: Pool,
    tenant_id: str,
    *,
    now: datetime,
    idle: timedelta,
    window: timedelta,
    limit: int = 500,
) -> int:
    """Pending surveys (due now) for conversations the bot answered last and nobody touched for
    `idle`, whose 24 h window (`window` after the customer's last message) is still open."""
    async with connection(pool) as conn:
        status = await conn.execute(_CREATE_IDLE, tenant_id, now, now - idle, now - window, limit)
    return int(status.split()[-1])


_DUE = """
SELECT * FROM csat_surveys
WHERE tenant_id = $1 AND status = 'pending' AND due_at <= $2
ORDER BY due_at
LIMIT $3
FOR UPDATE SKIP LOCKED
"""


async def claim_due(conn: Connection, tenant_id: str, now: datetime, limit: int) -> list[Survey]:
    """Due pending surveys, locked for the caller's transaction (other workers skip them)."""
    rows = await conn.fetch(_DUE, tenant_id, now, limit)
    return [Survey.from_row(r) for r in rows]


async def last_asked_at(conn: Connection, tenant_id: str, customer_id: str) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        "SELECT max(asked_at) FROM csat_surveys WHERE tenant_id = $1 AND customer_id = $2",
        tenant_id,
        customer_id,
    )
    return found


async def mark_asked(conn: Connection, survey_id: int, *, at: datetime, scale: int) -> None:
    await conn.execute(
        "UPDATE csat_surveys SET status = 'asked', asked_at = $2, scale = $3 WHERE id = $1",
        survey_id,
        at,
        scale,
    )


async def mark_skipped(conn: Connection, survey_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE csat_surveys SET status = 'skipped', skip_reason = $2 WHERE id = $1",
        survey_id,
        reason,
    )


_RATE = """
UPDATE csat_surveys SET rating = $4, status = 'answered', answered_at = $5
WHERE id = $3 AND tenant_id = $1 AND customer_id = $2 AND status = 'asked'
  AND $4 BETWEEN 1 AND coalesce(scale, 5)
RETURNING scale
"""


async def record_rating(
    pool: Pool, tenant_id: str, customer_id: str, survey_id: int, rating: int, *, at: datetime
) -> int | None:
    """Store the customer's rating of an asked survey (the first one wins); the survey's scale
    when stored, None when there was nothing to rate (unknown, not asked, answered before,
    another customer's, or outside the scale)."""
    async with connection(pool) as conn:
        scale: int | None = await conn.fetchval(
            _RATE, tenant_id, customer_id, survey_id, rating, at
        )
    return scale


async def of_customer(
    pool: Pool, tenant_id: str, customer_id: str, limit: int = 20
) -> list[Survey]:
    """The conversation's surveys, newest first."""
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT * FROM csat_surveys WHERE tenant_id = $1 AND customer_id = $2 "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            tenant_id,
            customer_id,
            limit,
        )
    return [Survey.from_row(r) for r in rows]


async def of_customers(
    pool: Pool, tenant_id: str, customer_ids: Sequence[str]
) -> dict[str, Survey]:
    """The latest survey of each of `customer_ids` that has one."""
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (customer_id) * FROM csat_surveys "
            "WHERE tenant_id = $1 AND customer_id = ANY($2::text[]) "
            "ORDER BY customer_id, created_at DESC, id DESC",
            tenant_id,
            list(customer_ids),
        )
    return {r["customer_id"]: Survey.from_row(r) for r in rows}
