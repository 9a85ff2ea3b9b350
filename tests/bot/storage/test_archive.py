"""Raw-body archiver: stream -> PostgreSQL, crash replay without loss or duplicates."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.storage.archive import GROUP, RawArchiver, parse_entry
from supportbot.storage.db import Pool, connection

STREAM = keyspace.raw_stream_key("acme")
T0 = 1_780_000_000.25


def bodies_of(start: int, n: int) -> list[bytes]:
    """Webhook bodies m<start>..; deliberately not valid UTF-8."""
    return [b'{"uuid":"m%d","text":"hi \xff"}' % i for i in range(start, start + n)]


async def add(r: aioredis.Redis, n: int, *, start: int = 0) -> list[bytes]:
    bodies = bodies_of(start, n)
    for i, body in enumerate(bodies, start=start):
        await r.xadd(
            STREAM,
            {"b": body, "t": repr(T0 + i), "k": "message" if i % 2 else "status", "id": f"m{i}"},
        )
    return bodies


async def archived(pool: Pool) -> list[tuple[str, str | None, datetime, bytes]]:
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT kind, dedupe_id, received_at, body FROM raw_webhooks"
            " WHERE tenant_id = 'acme' ORDER BY received_at"
        )
    return [(r["kind"], r["dedupe_id"], r["received_at"], bytes(r["body"])) for r in rows]


async def assert_drained(r: aioredis.Redis) -> None:
    assert await r.xlen(STREAM) == 0, "archived entries are deleted from the stream"
    pending = await r.xpending(STREAM, GROUP)
    assert pending["pending"] == 0


def archiver(r: aioredis.Redis, pool: Pool, name: str, **kw: int) -> RawArchiver:
    return RawArchiver(r, pool, "acme", consumer=name, block_ms=10, **kw)


async def test_entries_are_archived_byte_for_byte(aredis: aioredis.Redis, pool: Pool) -> None:
    a = archiver(aredis, pool, "a", batch_size=3)
    await a.ensure_group()
    bodies = await add(aredis, 5)
    handled = [await a.run_once() for _ in range(3)]
    assert handled == [3, 2, 0]
    rows = await archived(pool)
    assert [r[3] for r in rows] == bodies
    assert [r[0] for r in rows] == ["status", "message", "status", "message", "status"]
    assert [r[1] for r in rows] == [f"m{i}" for i in range(5)]
    assert rows[1][2] == datetime.fromtimestamp(T0 + 1, UTC)
    await assert_drained(aredis)


async def test_crash_between_insert_and_ack_replays_without_duplicates(
    aredis: aioredis.Redis, pool: Pool
) -> None:
    crashed = archiver(aredis, pool, "pod-1")
    await crashed.ensure_group()
    bodies = await add(aredis, 4)
    batch = await crashed.read_batch()
    assert await crashed.store(batch) == 4
    # ...the process dies here: no XACK, no XDEL. Another replica takes the idle entries over.
    survivor = archiver(aredis, pool, "pod-2", claim_idle_ms=0)
    assert await survivor.run_once() == 4
    assert await survivor.store(batch) == 0, "re-inserting is a no-op"
    assert [r[3] for r in await archived(pool)] == bodies
    await assert_drained(aredis)


async def test_crash_before_insert_loses_nothing(aredis: aioredis.Redis, pool: Pool) -> None:
    crashed = archiver(aredis, pool, "pod-1")
    await crashed.ensure_group()
    bodies = await add(aredis, 3)
    assert len(await crashed.read_batch()) == 3  # read, then died before storing
    await add(aredis, 2, start=3)
    # the same pod restarted (same consumer name): its own pending entries come first
    restarted = archiver(aredis, pool, "pod-1")
    assert await restarted.run_once() == 3
    assert await restarted.run_once() == 2
    assert [r[3] for r in await archived(pool)] == [*bodies, *bodies_of(3, 2)]
    await assert_drained(aredis)


async def test_idle_entries_of_others_wait_for_the_claim_threshold(
    aredis: aioredis.Redis, pool: Pool
) -> None:
    slow = archiver(aredis, pool, "slow")
    await slow.ensure_group()
    await add(aredis, 2)
    assert len(await slow.read_batch()) == 2  # still working on them
    other = archiver(aredis, pool, "other", claim_idle_ms=60_000)
    assert await other.run_once() == 0, "entries another consumer is busy with are left alone"
    assert await archived(pool) == []


async def test_entries_without_a_body_are_dropped_and_bad_times_fall_back(
    aredis: aioredis.Redis, pool: Pool
) -> None:
    a = archiver(aredis, pool, "a")
    await a.ensure_group()
    await aredis.xadd(STREAM, {"t": "1.0", "k": "message"})
    sid = await aredis.xadd(STREAM, {"b": b"x", "t": "not-a-time"})
    assert await a.run_once() == 2
    rows = await archived(pool)
    sid_text = sid.decode() if isinstance(sid, bytes) else str(sid)
    millis = int(sid_text.split("-")[0])
    assert rows == [("unknown", None, datetime.fromtimestamp(millis / 1000, UTC), b"x")]
    await assert_drained(aredis)


def test_parse_entry_accepts_str_fields() -> None:
    entry = parse_entry("5-0", {"b": "é", "t": "2.5", "k": "status", "id": "d"})
    assert entry is not None
    assert entry.body == "é".encode() and entry.received_at == datetime.fromtimestamp(2.5, UTC)
    assert parse_entry("5-0", {"t": "1"}) is None


async def test_background_task_archives_until_stopped(aredis: aioredis.Redis, pool: Pool) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(archiver(aredis, pool, "bg").run(stop))
    bodies = await add(aredis, 6)
    deadline = time.monotonic() + 30
    while len(await archived(pool)) < 6:
        assert time.monotonic() < deadline, "archiver did not catch up"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [r[3] for r in await archived(pool)] == bodies
    await assert_drained(aredis)
