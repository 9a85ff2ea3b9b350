"""Conversation export: one record per message (with its conversation's identity and its latest
CSAT rating, if any), oldest first,
as JSON Lines or CSV. Rows stream from a server-side cursor, so exports of any size run in
constant memory. Timestamps are ISO 8601 UTC; `body` is the stored JSON (a JSON string in CSV);
``media_*`` are the message's media reference (migration 0004: URL / Meta media id, MIME type,
size in bytes, caption, file name); `location` and `contacts` are what a customer shared, lifted
out of `body` (JSON strings in CSV).
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from supportbot.storage.db import Pool, connection

FIELDS = (
    "tenant_id",
    "customer_id",
    "phone",
    "name",
    "message_id",
    "created_at",
    "direction",
    "author",
    "kind",
    "text",
    "provider_message_id",
    "turn_id",
    "seq",
    "delivery_state",
    "delivery_error_code",
    "delivery_error_reason",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "media_url",
    "media_id",
    "media_mime",
    "media_size",
    "media_caption",
    "media_filename",
    "location",
    "contacts",
    "body",
    "csat_rating",
    "csat_scale",
)

_QUERY = """
SELECT c.tenant_id, c.customer_id, c.phone, c.name, m.id AS message_id, m.created_at,
       m.direction, m.author, m.kind, m.text, m.provider_message_id, m.turn_id, m.seq,
       m.delivery_state, m.delivery_error_code, m.delivery_error_reason,
       m.sent_at, m.delivered_at, m.read_at, m.failed_at,
       m.media_url, m.media_id, m.media_mime, m.media_size, m.media_caption, m.media_filename,
       m.body, s.rating AS csat_rating, s.scale AS csat_scale
FROM messages m
JOIN conversations c ON c.tenant_id = m.tenant_id AND c.customer_id = m.customer_id
LEFT JOIN LATERAL (
    SELECT cs.rating, cs.scale FROM csat_surveys cs
    WHERE cs.tenant_id = c.tenant_id AND cs.customer_id = c.customer_id
      AND cs.status = 'answered'
    ORDER BY cs.answered_at DESC LIMIT 1
) s ON true
WHERE m.tenant_id = $1
  AND ($2::text IS NULL OR m.customer_id = $2)
  AND ($3::timestamptz IS NULL OR m.created_at >= $3)
  AND ($4::timestamptz IS NULL OR m.created_at < $4)
ORDER BY m.customer_id, m.created_at, m.id
"""


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def shared_place(kind: str, body: Any) -> tuple[Any, Any]:
    """(location, contacts) a customer shared, lifted out of the stored body's `extra` (pure):
    location ``{latitude, longitude, name?, address?, url?}``, contacts Meta's cards."""
    extra = body.get("extra") if isinstance(body, dict) else None
    if not isinstance(extra, dict):
        return None, None
    location = None
    if kind == "location" and "latitude" in extra and "longitude" in extra:
        keys = ("latitude", "longitude", "name", "address", "url")
        location = {k: extra[k] for k in keys if k in extra}
    contacts = extra.get("contacts") if kind == "contacts" else None
    return location, contacts if isinstance(contacts, list) else None


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A DB row -> JSON-ready export record (pure)."""
    location, contacts = shared_place(str(row.get("kind")), row.get("body"))
    extra = {"location": location, "contacts": contacts}
    return {name: _plain(extra[name] if name in extra else row.get(name)) for name in FIELDS}


def jsonl_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_row(record: dict[str, Any]) -> dict[str, Any]:
    """Flatten for CSV: body as a JSON string, None as empty."""
    flat = dict(record)
    for name in ("body", "location", "contacts"):
        if record[name] is not None:
            flat[name] = json.dumps(record[name], ensure_ascii=False, separators=(",", ":"))
    return {k: "" if v is None else v for k, v in flat.items()}


async def iter_records(
    pool: Pool,
    tenant_id: str,
    *,
    customer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 500,
) -> AsyncIterator[dict[str, Any]]:
    """Export records of one tenant (optionally one customer / a time range)."""
    async with connection(pool) as conn, conn.transaction(readonly=True):
        cursor = conn.cursor(_QUERY, tenant_id, customer_id, since, until, prefetch=batch)
        async for row in cursor:
            yield to_record(dict(row))


async def export(
    pool: Pool,
    tenant_id: str,
    out: TextIO,
    fmt: ExportFormat,
    *,
    customer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the export to `out`; returns the number of messages written."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    if fmt is ExportFormat.CSV:
        writer.writeheader()
    records = iter_records(pool, tenant_id, customer_id=customer_id, since=since, until=until)
    async for record in records:
        if fmt is ExportFormat.CSV:
            writer.writerow(csv_row(record))
        else:
            out.write(jsonl_line(record))
        count += 1
    return count
