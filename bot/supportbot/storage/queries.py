"""Reads for the agent API: list/search conversations, read one with its messages.

Lists are newest-activity first with keyset pagination: pass the returned `next_cursor` (an
opaque string) back as `cursor`. Search matches the customer's name, phone or id (substring,
case-insensitive) or words in any message text (PostgreSQL full-text, 'simple' dictionary).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from supportbot.storage.db import Pool, connection
from supportbot.storage.errors import StorageError
from supportbot.storage.models import Conversation, HandoffState, MessageRecord

MAX_PAGE = 200

_LIST = """
SELECT * FROM conversations c
WHERE c.tenant_id = $1
  AND ($2::text IS NULL OR c.handoff_state = $2)
  AND ($3::timestamptz IS NULL OR (c.last_activity_at, c.customer_id) < ($3, $4::text))
  AND ($5::text IS NULL
       OR c.name ILIKE $6 OR c.phone LIKE $6 OR c.customer_id LIKE $6
       OR c.customer_id IN (
            SELECT m.customer_id FROM messages m
            WHERE m.tenant_id = $1
              AND to_tsvector('simple', coalesce(m.text, ''))
                  @@ websearch_to_tsquery('simple', $5)))
ORDER BY c.last_activity_at DESC, c.customer_id DESC
LIMIT $7
"""


class BadCursorError(StorageError):
    """A pagination cursor that this module did not produce."""


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: list[Conversation]
    next_cursor: str | None


def encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_activity_at.isoformat()}\x1f{conversation.customer_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, customer_id = raw.split("\x1f", 1)
        at = datetime.fromisoformat(stamp)
        at.astimezone(UTC)  # OverflowError when the instant is outside datetime's years
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise BadCursorError("invalid pagination cursor") from exc
    if at.tzinfo is None or "\x00" in customer_id:  # NUL: PostgreSQL text cannot hold it
        raise BadCursorError("invalid pagination cursor")
    return at, customer_id


def like_pattern(text: str) -> str:
    """'50%_off' -> '%50\\%\\_off%' (substring match with LIKE wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_conversations(
    pool: Pool,
    tenant_id: str,
    *,
    query: str | None = None,
    handoff: HandoffState | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> ConversationPage:
    """One page of the tenant's conversations, newest activity first."""
    limit = max(1, min(limit, MAX_PAGE))
    after_at, after_id = decode_cursor(cursor) if cursor else (None, None)
    text = query.strip() if query and query.strip() else None
    async with connection(pool) as conn:
        rows = await conn.fetch(
            _LIST,
            tenant_id,
            None if handoff is None else handoff.value,
            after_at,
            after_id,
            text,
            None if text is None else like_pattern(text),
            limit + 1,
        )
    items = [Conversation.from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return ConversationPage(items, encode_cursor(items[-1]) if more and items else None)


async def get_conversation(pool: Pool, tenant_id: str, customer_id: str) -> Conversation | None:
    async with connection(pool) as conn:
        row = await conn.fetchrow(
            "SELECT * FROM conversations WHERE tenant_id = $1 AND customer_id = $2",
            tenant_id,
            customer_id,
        )
    return None if row is None else Conversation.from_row(row)


async def get_messages(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    *,
    limit: int = 100,
    before_id: int | None = None,
) -> list[MessageRecord]:
    """The conversation's latest `limit` messages (older than `before_id`), oldest first."""
    limit = max(1, min(limit, 1000))
    async with connection(pool) as conn:
        rows = await conn.fetch(
            """
            SELECT * FROM (
                SELECT * FROM messages
                WHERE tenant_id = $1 AND customer_id = $2 AND ($3::bigint IS NULL OR id < $3)
                ORDER BY created_at DESC, id DESC
                LIMIT $4
            ) latest ORDER BY created_at, id
            """,
            tenant_id,
            customer_id,
            before_id,
            limit,
        )
    return [MessageRecord.from_row(r) for r in rows]


async def get_message(pool: Pool, tenant_id: str, message_id: int) -> MessageRecord | None:
    async with connection(pool) as conn:
        row = await conn.fetchrow(
            "SELECT * FROM messages WHERE tenant_id = $1 AND id = $2", tenant_id, message_id
        )
    return None if row is None else MessageRecord.from_row(row)
