"""The outbox of handoff notifications in PostgreSQL (tables of migration 0002).

- `enqueue`: one row per (tenant, idempotency key), ``ON CONFLICT DO NOTHING``: the engine calls it
  on every run of a turn that handed off (or that a human-owned conversation received), after
  the handoff state was saved and before any reply is sent, so a retried or crashed turn ends
  with exactly one row, and the row exists before the customer hears anything.
- `claim`: due pending rows, ``FOR UPDATE SKIP LOCKED`` (workers never take the same row), each
  given a claim token, its attempt counted and its next try pushed past the claim period (a
  sender that dies mid-POST leaves the row to another one then).
- `record`: the attempt's delivery-log row and the row's new state (delivered / retry at / failed),
  in one transaction, fenced by the claim token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from supportbot.notify.config import NotifyConfig
from supportbot.notify.payload import (
    ConversationView,
    Event,
    MessageView,
    build_payload,
    idempotency_key,
)
from supportbot.storage.db import Pool, connection

Outcome = Literal["delivered", "retry", "failed"]

_INSERT = """
INSERT INTO handoff_notifications
    (tenant_id, customer_id, idempotency_key, event, turn_id, payload, created_at, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id
"""

_CLAIM = """
UPDATE handoff_notifications n SET
    attempts = n.attempts + 1,
    claim_token = $3,
    next_attempt_at = now() + make_interval(secs => $4)
FROM (
    SELECT id FROM handoff_notifications
    WHERE tenant_id = $1 AND status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
) due
WHERE n.id = due.id
RETURNING n.id, n.event, n.idempotency_key, n.payload, n.attempts, n.claim_token,
    coalesce(n.resent_at, n.created_at) AS budget_from
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    event: str
    key: str
    payload: dict[str, Any]
    attempt: int
    budget_from: datetime
    """When the retry budget started: made, or last resent by an operator."""
    token: str


async def enqueue(
    pool: Pool,
    config: NotifyConfig,
    *,
    tenant_id: str,
    customer_id: str,
    turn_id: str,
    event: Event,
    reason: str | None,
    out_of_hours: bool = False,
    now: datetime | None = None,
) -> bool:
    """Write the notification of (turn, event) unless it exists; True when this call wrote it.
    False as well when the conversation does not exist (nothing to tell)."""
    key = idempotency_key(tenant_id, turn_id, event)
    created = now or datetime.now(UTC)
    async with connection(pool) as conn, conn.transaction():
        if await conn.fetchval(
            "SELECT 1 FROM handoff_notifications WHERE tenant_id = $1 AND idempotency_key = $2",
            tenant_id,
            key,
        ):
            return False
        row = await conn.fetchrow(
            "SELECT id, customer_id, phone, name, handoff_state, handoff_agent, handoff_reason,"
            " handoff_since FROM conversations WHERE tenant_id = $1 AND customer_id = $2",
            tenant_id,
            customer_id,
        )
        if row is None:
            return False
        conversation = ConversationView(**dict(row))
        rows = []
        if config.last_messages > 0:
            rows = await conn.fetch(
                """
                SELECT * FROM (
                    SELECT id, direction, author, kind, text, created_at FROM messages
                    WHERE tenant_id = $1 AND customer_id = $2
                    ORDER BY created_at DESC, id DESC LIMIT $3
                ) latest ORDER BY created_at, id
                """,
                tenant_id,
                customer_id,
                config.last_messages,
            )
        messages = [
            MessageView(r["direction"], r["author"], r["kind"], r["text"], r["created_at"])
            for r in rows
        ]
        payload = build_payload(
            key=key,
            event=event,
            tenant_id=tenant_id,
            turn_id=turn_id,
            conversation=conversation,
            reason=conversation.handoff_reason if reason is None else reason,
            out_of_hours=out_of_hours,
            messages=messages,
            include_phone=config.include_phone,
            created_at=created,
        )
        inserted = await conn.fetchval(
            _INSERT, tenant_id, customer_id, key, event, turn_id, payload, created
        )
    return inserted is not None


async def claim(pool: Pool, tenant_id: str, *, limit: int, claim_seconds: float) -> list[Claimed]:
    token = secrets.token_hex(8)
    async with connection(pool) as conn:
        rows = await conn.fetch(_CLAIM, tenant_id, limit, token, claim_seconds)
    return [
        Claimed(
            id=r["id"],
            event=r["event"],
            key=r["idempotency_key"],
            payload=r["payload"],
            attempt=r["attempts"],
            budget_from=r["budget_from"],
            token=r["claim_token"],
        )
        for r in rows
    ]


async def record(
    pool: Pool,
    tenant_id: str,
    claimed: Claimed,
    outcome: Outcome,
    *,
    http_status: int | None,
    latency_ms: float,
    error: str | None,
    retry_in: float | None = None,
) -> bool:
    """Log the attempt and move the row on; False when the claim was lost (another sender took
    the row over after the claim period: the attempt is logged, the row left to it)."""
    async with connection(pool) as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO handoff_notification_attempts"
            " (tenant_id, notification_id, attempt, outcome, http_status, latency_ms, error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            tenant_id,
            claimed.id,
            claimed.attempt,
            outcome,
            http_status,
            latency_ms,
            error,
        )
        status = await conn.execute(
            """
            UPDATE handoff_notifications SET
                status = CASE $3::text WHEN 'retry' THEN 'pending' ELSE $3::text END,
                delivered_at = CASE WHEN $3::text = 'delivered' THEN now() END,
                failed_at = CASE WHEN $3::text = 'failed' THEN now() END,
                next_attempt_at = CASE WHEN $3::text = 'retry'
                    THEN now() + make_interval(secs => $4) ELSE next_attempt_at END,
                claim_token = NULL,
                last_http_status = $5,
                last_error = $6
            WHERE id = $1 AND claim_token = $2 AND status = 'pending'
            """,
            claimed.id,
            claimed.token,
            outcome,
            retry_in or 0.0,
            http_status,
            error,
        )
    return status.endswith(" 1")


async def pending_stats(pool: Pool, tenant_id: str) -> tuple[int, float]:
    """(pending notifications, age in seconds of the oldest one; 0 when none)."""
    async with connection(pool) as conn:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM handoff_notifications"
            " WHERE tenant_id = $1 AND status = 'pending'",
            tenant_id,
        )
    assert row is not None
    oldest = row["oldest"]
    age = 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    return int(row["n"]), age


@dataclass(frozen=True)
class Summary:
    id: int
    event: str
    customer_id: str
    turn_id: str | None
    status: str
    attempts: int
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime


async def list_notifications(
    pool: Pool, tenant_id: str, *, status: str | None = None, limit: int = 50
) -> list[Summary]:
    """The tenant's notifications, newest first (optionally of one status)."""
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT id, event, customer_id, turn_id, status, attempts, last_http_status,"
            " last_error, created_at, next_attempt_at FROM handoff_notifications"
            " WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)"
            " ORDER BY id DESC LIMIT $3",
            tenant_id,
            status,
            limit,
        )
    return [Summary(**dict(r)) for r in rows]


async def resend(pool: Pool, tenant_id: str, ids: list[int] | None) -> int:
    """Make failed notifications (these `ids`, or all with None) pending again, due now, with a
    fresh attempt count and retry budget. Returns how many."""
    async with connection(pool) as conn:
        status = await conn.execute(
            "UPDATE handoff_notifications SET status = 'pending', attempts = 0,"
            " next_attempt_at = now(), resent_at = now(), failed_at = NULL, claim_token = NULL"
            " WHERE tenant_id = $1 AND status = 'failed'"
            " AND ($2::bigint[] IS NULL OR id = ANY($2))",
            tenant_id,
            ids,
        )
    return int(status.rsplit(" ", 1)[-1])
