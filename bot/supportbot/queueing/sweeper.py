"""Sweeper: re-enqueue drains for conversations whose owner vanished.

A conversation with unacknowledged messages (inbox or `proc`) but no lease has lost its drain:
its worker was SIGKILLed and the lease expired, or a queued drain job disappeared. Every worker
runs `sweep_loop`; a short Redis lock lets one of them sweep per interval. KICK re-checks
atomically, so concurrent sweeps or a racing webhook never enqueue two drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.queueing.mailbox import Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)

SCAN_COUNT = 500


def sweep_interval(settings: BotSettings) -> float:
    """Half a lease (at least 0.5 s, at most 15 s): recovery takes <= lease + this."""
    return min(max(settings.lease_seconds / 2, 0.5), 15.0)


async def sweep_once(
    redis: aioredis.Redis, mailbox: Mailbox, settings: BotSettings
) -> tuple[int, int]:
    """Kick every active conversation without a lease.

    Returns (drains enqueued, of which for turns orphaned mid-way)."""
    active = keyspace.active_key(settings.tenant_id)
    kicked = orphaned = 0
    cursor = 0
    while True:
        cursor, members = await redis.sscan(active, cursor, count=SCAN_COUNT)
        refs = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        if refs:
            async with redis.pipeline(transaction=False) as pipe:
                for ref in refs:
                    pipe.exists(mailbox.keys(ref).lease)
                leased = await pipe.execute()
            for ref, has_lease in zip(refs, leased, strict=True):
                done = 0 if has_lease else await mailbox.kick(ref)
                kicked += done > 0
                orphaned += done == 2
        if cursor == 0:
            return kicked, orphaned


async def sweep_loop(
    redis: aioredis.Redis,
    mailbox: Mailbox,
    settings: BotSettings,
    metrics: WorkerMetrics,
    stopping: asyncio.Event,
) -> None:
    interval = sweep_interval(settings)
    lock = keyspace.sweeper_lock_key(settings.tenant_id)
    while not stopping.is_set():
        try:
            if await redis.set(lock, "1", nx=True, px=int(interval * 900)):
                kicked, orphaned = await sweep_once(redis, mailbox, settings)
                if kicked:
                    metrics.sweeper_kicks.inc(kicked)
                    metrics.lease_takeovers.inc(orphaned)
                    log.warning(
                        "sweeper re-enqueued %d conversation(s), %d with an orphaned turn",
                        kicked,
                        orphaned,
                    )
        except Exception:
            log.exception("sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
