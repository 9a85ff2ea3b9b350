"""Raw-body archiver: Redis stream ``sb:{tenant}:raw`` -> PostgreSQL ``raw_webhooks``.

The webhook XADDs every accepted body (fields ``b`` body bytes, ``t`` received_at epoch seconds,
``k`` "message"|"status", ``id`` dedupe id). The worker runs `RawArchiver.run` as a background
task: read a batch through a consumer group, store it with one INSERT ... ON CONFLICT DO NOTHING
keyed on (tenant, stream entry id), then XACK + XDEL. A crash between the insert and the ack
leaves the entries pending; they are read again (own pending entries at start, other consumers'
through XAUTOCLAIM once idle) and the insert is a no-op for rows already stored, so nothing is
lost and nothing is duplicated. Use a Redis client with ``decode_responses=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from supportbot.keyspace import raw_stream_key
from supportbot.storage.db import Pool, connection

log = logging.getLogger(__name__)

GROUP = "archiver"

_INSERT = """
INSERT INTO raw_webhooks (tenant_id, stream_id, kind, dedupe_id, received_at, body)
SELECT $1, s, k, d, r, b
FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[]) AS x(s, k, d, r, b)
ON CONFLICT (tenant_id, stream_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class RawEntry:
    stream_id: str
    kind: str
    dedupe_id: str | None
    received_at: datetime
    body: bytes


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _stream_time(stream_id: str) -> datetime:
    millis = int(stream_id.split("-", 1)[0])
    return datetime.fromtimestamp(millis / 1000, UTC)


def parse_entry(stream_id: str, fields: Mapping[Any, Any]) -> RawEntry | None:
    """A stream entry -> archive row (pure). None when there is no body to archive.

    Missing/bad `t` falls back to the entry id's time; an unknown `k` is stored as given.
    """
    flat = {_text(k): v for k, v in fields.items()}
    body = flat.get("b")
    if body is None:
        return None
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        received_at = datetime.fromtimestamp(float(_text(flat.get("t")) or ""), UTC)
    except (ValueError, OverflowError, OSError):
        received_at = _stream_time(stream_id)
    return RawEntry(
        stream_id=stream_id,
        kind=_text(flat.get("k")) or "unknown",
        dedupe_id=_text(flat.get("id")),
        received_at=received_at,
        body=bytes(body),
    )


Batch = list[tuple[str, Mapping[Any, Any] | None]]


class RawArchiver:
    """Archives one tenant's raw-body stream. One or more replicas may run it concurrently."""

    def __init__(
        self,
        redis: aioredis.Redis,
        pool: Pool,
        tenant_id: str,
        *,
        consumer: str | None = None,
        batch_size: int = 200,
        block_ms: int = 2000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self._redis = redis
        self._pool = pool
        self.tenant_id = tenant_id
        self.stream = raw_stream_key(tenant_id)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self._own_pending = True  # re-read our own unacknowledged entries first
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_batch(self, block_ms: int | None = None) -> Batch:
        """Own pending entries (after a start or a failure), else idle entries of other
        consumers (XAUTOCLAIM), else new entries (blocking up to `block_ms`)."""
        if self._own_pending:
            got = await self._xread("0", None)
            if got:
                return got
            self._own_pending = False
        claimed = await self._autoclaim()
        if claimed:
            return claimed
        return await self._xread(">", self.block_ms if block_ms is None else block_ms)

    async def _xread(self, start: str, block_ms: int | None) -> Batch:
        reply: Any = await self._redis.xreadgroup(
            GROUP, self.consumer, {self.stream: start}, count=self.batch_size, block=block_ms
        )
        if not reply:
            return []
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [(_text(sid) or "", fields or None) for sid, fields in entries]

    async def _autoclaim(self) -> Batch:
        reply: Any = await self._redis.xautoclaim(
            self.stream,
            GROUP,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        self._claim_cursor = _text(reply[0]) or "0-0"
        batch: Batch = [(_text(sid) or "", fields or None) for sid, fields in reply[1]]
        # Redis >= 7 lists entries deleted from the stream separately: just acknowledge them.
        gone = [_text(sid) or "" for sid in (reply[2] if len(reply) > 2 else [])]
        batch.extend((sid, None) for sid in gone)
        return batch

    async def store(self, batch: Batch) -> int:
        """Insert the batch's bodies (idempotent); returns how many rows were new."""
        rows: list[RawEntry] = []
        for sid, fields in batch:
            entry = None if fields is None else parse_entry(sid, fields)
            if entry is not None:
                rows.append(entry)
            elif fields is not None:
                log.warning("raw stream entry without a body dropped", extra={"stream_id": sid})
        if not rows:
            return 0
        async with connection(self._pool) as conn:
            status = await conn.execute(
                _INSERT,
                self.tenant_id,
                [r.stream_id for r in rows],
                [r.kind for r in rows],
                [r.dedupe_id for r in rows],
                [r.received_at for r in rows],
                [r.body for r in rows],
            )
        return int(status.rsplit(" ", 1)[-1])

    async def ack(self, stream_ids: Sequence[str]) -> None:
        if not stream_ids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, *stream_ids)
            pipe.xdel(self.stream, *stream_ids)
            await pipe.execute()

    async def run_once(self, block_ms: int | None = None) -> int:
        """Archive one batch; returns the number of entries handled (0 when idle)."""
        batch = await self.read_batch(block_ms)
        if not batch:
            return 0
        try:
            await self.store(batch)
        except BaseException:
            self._own_pending = True
            raise
        await self.ack([sid for sid, _ in batch])
        return len(batch)

    async def run(self, stop: asyncio.Event, *, retry_seconds: float = 1.0) -> None:
        """Archive until `stop` is set; errors are logged and retried after a pause."""
        await self.ensure_group()
        while not stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("raw-body archiver batch failed; retrying")
                self._own_pending = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
