"""Delivery state of outbound messages: monotonic merge of reports, attempts log.

States only move forward, by the one state machine `supportbot.messages.next_delivery_state`
(queued < sent < delivered < read; `failed` from queued/sent only, then terminal except for a
later `delivered`/`read`, which keeps the failure's code/reason for audit). Each state's own
timestamp is filled the first time it is reported even when the report arrives out of order (a
`delivered` after `read` sets delivered_at but leaves the state at `read`).

Here the bot's own steps advance a reply (`update_outbound`: queued with the provider id, sent,
a local failure). MSG91's delivery reports go through `provider.dlr_consumer` (over
`outbound.PgDeliveryStateStore`); a report that overtakes the send response stays pending in its
stream and is retried until the provider id is recorded. The table ``unmatched_delivery_states``
of migration 0001 is no longer written (reports used to be parked there); retention still
purges rows an older version left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from supportbot.messages import DeliveryState, next_delivery_state
from supportbot.storage.db import Connection, Pool, connection, to_datetime
from supportbot.storage.errors import StorageError

_COLUMNS = (
    "delivery_state, delivery_error_code, delivery_error_reason, delivery_updated_at, "
    "sent_at, delivered_at, read_at, failed_at"
)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    state: DeliveryState | None = None
    error_code: str | None = None
    error_reason: str | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> DeliveryStatus:
        state = row["delivery_state"]
        return cls(
            state=None if state is None else DeliveryState(state),
            error_code=row["delivery_error_code"],
            error_reason=row["delivery_error_reason"],
            updated_at=row["delivery_updated_at"],
            sent_at=row["sent_at"],
            delivered_at=row["delivered_at"],
            read_at=row["read_at"],
            failed_at=row["failed_at"],
        )

    def params(self) -> tuple[object, ...]:
        return (
            None if self.state is None else self.state.value,
            self.error_code,
            self.error_reason,
            self.updated_at,
            self.sent_at,
            self.delivered_at,
            self.read_at,
            self.failed_at,
        )


def advances(current: DeliveryState | None, new: DeliveryState) -> bool:
    """Would a report of `new` move a message currently in `current` (None: no state yet)
    forward?"""
    return current is None or next_delivery_state(current, new) is not None


def _stamped(status: DeliveryStatus, state: DeliveryState, at: datetime) -> DeliveryStatus:
    """Fill the timestamp column of `state` unless it is already set (first report wins)."""
    if state is DeliveryState.SENT and status.sent_at is None:
        return replace(status, sent_at=at)
    if state is DeliveryState.DELIVERED and status.delivered_at is None:
        return replace(status, delivered_at=at)
    if state is DeliveryState.READ and status.read_at is None:
        return replace(status, read_at=at)
    if state is DeliveryState.FAILED and status.failed_at is None:
        return replace(status, failed_at=at)
    return status


def merge(
    current: DeliveryStatus,
    state: DeliveryState,
    error_code: str | None,
    error_reason: str | None,
    at: datetime,
) -> DeliveryStatus:
    """The status after a report (pure). Unchanged fields mean the report was stale."""
    merged = _stamped(current, state, at)
    if advances(current.state, state):
        merged = replace(merged, state=state, updated_at=at)
        if state is DeliveryState.FAILED:
            merged = replace(merged, error_code=error_code, error_reason=error_reason)
    return merged


async def _write_message(conn: Connection, message_id: int, status: DeliveryStatus) -> None:
    await conn.execute(
        "UPDATE messages SET delivery_state = $2, delivery_error_code = $3,"
        " delivery_error_reason = $4, delivery_updated_at = $5, sent_at = $6,"
        " delivered_at = $7, read_at = $8, failed_at = $9 WHERE id = $1",
        message_id,
        *status.params(),
    )


async def update_outbound(
    pool: Pool,
    tenant_id: str,
    turn_id: str,
    seq: int,
    state: DeliveryState,
    *,
    provider_message_id: str | None = None,
    error_code: str | None = None,
    error_reason: str | None = None,
    at: float | datetime | None = None,
) -> DeliveryState | None:
    """Advance a reply found by (turn id, seq): after the send call (`state=SENT` with the
    provider id) or on a local failure (`state=FAILED`, no id). Returns the resulting state, or
    None if no such reply exists.
    """
    when = to_datetime(at)
    async with connection(pool) as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT id, provider_message_id, {_COLUMNS} FROM messages"  # noqa: S608
            " WHERE tenant_id = $1 AND turn_id = $2 AND seq = $3 FOR UPDATE",
            tenant_id,
            turn_id,
            seq,
        )
        if row is None:
            return None
        before = DeliveryStatus.from_row(row)
        after = merge(before, state, error_code, error_reason, when)
        known = row["provider_message_id"]
        if provider_message_id is not None and known is None:
            try:
                await conn.execute(
                    "UPDATE messages SET provider_message_id = $2 WHERE id = $1",
                    row["id"],
                    provider_message_id,
                )
            except asyncpg.UniqueViolationError as exc:
                raise StorageError(
                    f"provider message id already belongs to another message of {tenant_id}"
                ) from exc
        if after != before:
            await _write_message(conn, row["id"], after)
        return after.state


async def record_attempt(
    pool: Pool,
    tenant_id: str,
    *,
    turn_id: str | None,
    seq: int | None,
    attempt: int,
    http_status: int | None,
    error: str | None,
    duration_ms: float | None,
    at: float | datetime | None = None,
    outcome: str | None = None,
    error_code: str | None = None,
    provider_message_id: str | None = None,
    request_id: str | None = None,
    rate_limit_wait_ms: float | None = None,
) -> int:
    """Log one send attempt (linked to the reply row when (turn id, seq) is recorded)."""
    async with connection(pool) as conn:
        row_id = await conn.fetchval(
            """
            INSERT INTO delivery_attempts
                (tenant_id, message_id, turn_id, seq, attempt, http_status, error, duration_ms,
                 at, outcome, error_code, provider_message_id, request_id, rate_limit_wait_ms)
            VALUES ($1,
                    (SELECT id FROM messages WHERE tenant_id = $1 AND turn_id = $2 AND seq = $3),
                    $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            RETURNING id
            """,
            tenant_id,
            turn_id,
            seq,
            attempt,
            http_status,
            error,
            duration_ms,
            to_datetime(at),
            outcome,
            error_code,
            provider_message_id,
            request_id,
            rate_limit_wait_ms,
        )
    return int(row_id)
