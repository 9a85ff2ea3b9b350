"""Delivery state of outbound messages: monotonic merge of reports, attempts log.

States only move forward: queued < sent < failed < delivered < read. `failed` is terminal except
for a later `delivered`/`read` (multi-device, shared reference msg91-whatsapp.md §1.3), which
keeps the failure's code/reason for audit; a late `sent` never overwrites anything. This is the
same order as `supportbot.msg91.dlr.next_state` (tests check they agree). Each state's own
timestamp is filled the first time it is reported even when the report arrives out of order (a
`delivered` after `read` sets delivered_at but leaves the state at `read`).

A report may overtake the send response that tells us the provider id; such a report is parked in
``unmatched_delivery_states`` and merged when `update_outbound` attaches the id. Both paths take a
transaction-scoped advisory lock on (tenant, provider id), so neither can miss the other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from supportbot.messages import DeliveryState
from supportbot.storage.db import Connection, Pool, connection, to_datetime
from supportbot.storage.errors import StorageError

RANK: dict[DeliveryState, int] = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENT: 1,
    DeliveryState.FAILED: 2,
    DeliveryState.DELIVERED: 3,
    DeliveryState.READ: 4,
}

STAMP_COLUMNS = {
    DeliveryState.SENT: "sent_at",
    DeliveryState.DELIVERED: "delivered_at",
    DeliveryState.READ: "read_at",
    DeliveryState.FAILED: "failed_at",
}

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
    """Would a report of `new` move a message currently in `current` forward?"""
    return current is None or RANK[new] > RANK[current]


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


async def _pid_lock(conn: Connection, tenant_id: str, provider_message_id: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 7))",
        tenant_id,
        provider_message_id,
    )


async def _write_message(conn: Connection, message_id: int, status: DeliveryStatus) -> None:
    await conn.execute(
        "UPDATE messages SET delivery_state = $2, delivery_error_code = $3,"
        " delivery_error_reason = $4, delivery_updated_at = $5, sent_at = $6,"
        " delivered_at = $7, read_at = $8, failed_at = $9 WHERE id = $1",
        message_id,
        *status.params(),
    )


async def set_state(
    pool: Pool,
    tenant_id: str,
    provider_message_id: str,
    state: DeliveryState,
    error_code: str | None = None,
    error_reason: str | None = None,
    at: float | datetime | None = None,
) -> bool:
    """Apply a delivery report; True when a recorded message's state moved forward.

    A report for a provider id no message has yet is parked (returns False) and merged when
    `update_outbound` attaches that id."""
    when = to_datetime(at)
    async with connection(pool) as conn, conn.transaction():
        await _pid_lock(conn, tenant_id, provider_message_id)
        row = await conn.fetchrow(
            f"SELECT id, {_COLUMNS} FROM messages"  # noqa: S608 - constant column list
            " WHERE tenant_id = $1 AND provider_message_id = $2 FOR UPDATE",
            tenant_id,
            provider_message_id,
        )
        if row is not None:
            before = DeliveryStatus.from_row(row)
            after = merge(before, state, error_code, error_reason, when)
            if after != before:
                await _write_message(conn, row["id"], after)
            return after.state is not before.state
        parked = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM unmatched_delivery_states"  # noqa: S608 - constant columns
            " WHERE tenant_id = $1 AND provider_message_id = $2",
            tenant_id,
            provider_message_id,
        )
        before = DeliveryStatus() if parked is None else DeliveryStatus.from_row(parked)
        after = merge(before, state, error_code, error_reason, when)
        if after != before:
            await conn.execute(
                "INSERT INTO unmatched_delivery_states"  # noqa: S608 - constant column list
                f" (tenant_id, provider_message_id, {_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (tenant_id, provider_message_id) DO UPDATE SET"
                " delivery_state = EXCLUDED.delivery_state,"
                " delivery_error_code = EXCLUDED.delivery_error_code,"
                " delivery_error_reason = EXCLUDED.delivery_error_reason,"
                " delivery_updated_at = EXCLUDED.delivery_updated_at,"
                " sent_at = EXCLUDED.sent_at, delivered_at = EXCLUDED.delivered_at,"
                " read_at = EXCLUDED.read_at, failed_at = EXCLUDED.failed_at",
                tenant_id,
                provider_message_id,
                *after.params(),
            )
        return False


async def get_state(pool: Pool, tenant_id: str, provider_message_id: str) -> DeliveryState | None:
    """The recorded state of a provider id (message or parked report); None if unknown."""
    async with connection(pool) as conn:
        value = await conn.fetchval(
            "SELECT delivery_state FROM messages WHERE tenant_id = $1 AND provider_message_id = $2"
            " UNION ALL SELECT delivery_state FROM unmatched_delivery_states"
            " WHERE tenant_id = $1 AND provider_message_id = $2 LIMIT 1",
            tenant_id,
            provider_message_id,
        )
    return None if value is None else DeliveryState(value)


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
    provider id) or on a local failure (`state=FAILED`, no id). Merges reports that arrived
    before the id was known. Returns the resulting state, or None if no such reply exists.
    """
    when = to_datetime(at)
    async with connection(pool) as conn, conn.transaction():
        if provider_message_id is not None:
            await _pid_lock(conn, tenant_id, provider_message_id)
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
            parked = await conn.fetchrow(
                f"DELETE FROM unmatched_delivery_states"  # noqa: S608
                f" WHERE tenant_id = $1 AND provider_message_id = $2 RETURNING {_COLUMNS}",
                tenant_id,
                provider_message_id,
            )
            if parked is not None:
                after = _merge_parked(after, DeliveryStatus.from_row(parked))
        if after != before:
            await _write_message(conn, row["id"], after)
        return after.state


def _merge_parked(status: DeliveryStatus, parked: DeliveryStatus) -> DeliveryStatus:
    """Fold a parked report's stamps and state into a message's status (pure)."""
    merged = status
    for state, stamp in STAMP_COLUMNS.items():
        at = getattr(parked, stamp)
        if at is not None:
            merged = merge(
                merged,
                state,
                parked.error_code if state is parked.state else None,
                parked.error_reason if state is parked.state else None,
                at,
            )
    return merged


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
