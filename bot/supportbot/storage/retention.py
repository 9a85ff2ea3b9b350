"""History retention: delete one tenant's rows older than N days, in short batches.

Messages, turns, delivery attempts, parked delivery reports (``unmatched_delivery_states``, no
longer written; rows of older versions), archived raw webhooks and handoff notifications (with
their delivery log) are deleted by their own timestamp; a conversation is deleted when its last
activity is older than the cutoff and none of its messages remain. Batches keep each statement
(and its locks) short so the webhook and workers keep writing while retention runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from supportbot.storage.db import Pool, connection

DEFAULT_BATCH = 5000

# table -> timestamp column; order matters only for efficiency (children before parents).
_TABLES: tuple[tuple[str, str], ...] = (
    ("delivery_attempts", "at"),
    ("messages", "created_at"),
    ("turns", "created_at"),
    ("unmatched_delivery_states", "delivery_updated_at"),
    ("raw_webhooks", "received_at"),
    ("handoff_notification_attempts", "at"),
    ("handoff_notifications", "created_at"),
)

_DELETE_CONVERSATIONS = """
DELETE FROM conversations WHERE id IN (
    SELECT c.id FROM conversations c
    WHERE c.tenant_id = $1 AND c.last_activity_at < $2
      AND NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.tenant_id = c.tenant_id AND m.customer_id = c.customer_id)
    LIMIT $3)
"""


@dataclass(slots=True)
class RetentionReport:
    cutoff: datetime
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    if days < 1:
        raise ValueError("retention must be at least 1 day")
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _count(status: str) -> int:
    """'DELETE 42' -> 42."""
    return int(status.rsplit(" ", 1)[-1])


async def _delete_batches(
    pool: Pool, sql: str, tenant_id: str, cutoff: datetime, batch: int
) -> int:
    total = 0
    while True:
        async with connection(pool) as conn:
            deleted = _count(await conn.execute(sql, tenant_id, cutoff, batch))
        total += deleted
        if deleted < batch:
            return total


async def apply_retention(
    pool: Pool,
    tenant_id: str,
    days: int,
    *,
    now: datetime | None = None,
    batch: int = DEFAULT_BATCH,
) -> RetentionReport:
    """Delete the tenant's history older than `days` days; returns counts per table."""
    report = RetentionReport(cutoff=cutoff_for(days, now))
    for table, column in _TABLES:
        sql = (
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"  # noqa: S608 - constants
            f" WHERE tenant_id = $1 AND {column} < $2 LIMIT $3)"
        )
        report.deleted[table] = await _delete_batches(pool, sql, tenant_id, report.cutoff, batch)
    report.deleted["conversations"] = await _delete_batches(
        pool, _DELETE_CONVERSATIONS, tenant_id, report.cutoff, batch
    )
    return report
