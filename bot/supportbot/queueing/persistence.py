"""Is the Redis we use durable? Every acknowledged message lives only in Redis until its turn
runs, so a Redis without an append-only file loses them all on a restart.

`probe` reads ``INFO persistence`` (allowed everywhere, ElastiCache included) and, where it is
allowed, ``CONFIG GET appendfsync``; `RedisPersistence` (pure) decides. Durable means AOF on with
``appendfsync`` ``always`` or ``everysec`` (the latter loses at most ~1 s of writes on a crash);
with AOF on and the fsync policy unreadable, the Redis default ``everysec`` is assumed and said.
Anything else (AOF off, ``appendfsync no``, a failing AOF write, INFO unreadable) is not durable:
the webhook and worker log a warning, export ``supportbot_redis_persistence_durable 0`` and show
the detail in their health endpoints. It never stops them: losing durability is an operator's
call, not a reason to stop answering.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

DURABLE_FSYNC = frozenset({"always", "everysec"})


@dataclass(frozen=True, slots=True)
class RedisPersistence:
    aof: bool | None
    """``aof_enabled`` from INFO (None: unreadable)."""
    fsync: str | None = None
    """``appendfsync`` (None: CONFIG not allowed)."""
    aof_write_ok: bool = True
    """``aof_last_write_status`` is ok."""

    @property
    def durable(self) -> bool:
        fsync_ok = self.fsync is None or self.fsync in DURABLE_FSYNC
        return bool(self.aof) and self.aof_write_ok and fsync_ok

    def describe(self) -> str:
        if self.aof is None:
            return "unknown: INFO persistence unreadable; assume acknowledged messages can be lost"
        if not self.aof:
            return "off: no AOF; acknowledged messages are lost if Redis restarts"
        if not self.aof_write_ok:
            return "failing: the last AOF write failed"
        if self.fsync == "no":
            return "weak: AOF with appendfsync no (~30 s of acknowledged messages at risk)"
        if self.fsync is None:
            return "aof (appendfsync unreadable; Redis' default everysec assumed: <= 1 s at risk)"
        if self.fsync == "everysec":
            return "aof everysec (<= 1 s of acknowledged messages at risk on a crash)"
        return f"aof {self.fsync}"


def parse(info: dict[str, Any], fsync: str | None) -> RedisPersistence:
    """From ``INFO persistence`` (as redis-py parses it) and ``appendfsync``."""
    if "aof_enabled" not in info:
        return RedisPersistence(aof=None, fsync=fsync)
    return RedisPersistence(
        aof=str(info.get("aof_enabled")) == "1",
        fsync=fsync,
        aof_write_ok=str(info.get("aof_last_write_status", "ok")) == "ok",
    )


async def probe(redis: aioredis.Redis) -> RedisPersistence:
    """Ask Redis; connection errors propagate (the caller's health check handles them)."""
    info = await redis.info("persistence")
    fsync: str | None = None
    reply: dict[Any, Any] = {}
    with contextlib.suppress(aioredis.ResponseError):  # CONFIG disabled or renamed (managed)
        reply = dict(await redis.config_get("appendfsync"))
    raw = reply.get("appendfsync") or reply.get(b"appendfsync")
    if raw is not None:
        fsync = raw.decode() if isinstance(raw, bytes) else str(raw)
    return parse(dict(info), fsync)


class PersistenceWatch:
    """Remembers the last probe and logs a warning whenever durability is lost (or first seen
    missing); `durable` feeds the metric."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.last: RedisPersistence | None = None

    async def check(self, redis: aioredis.Redis) -> RedisPersistence:
        state = await probe(redis)
        previous, self.last = self.last, state
        if not state.durable and (previous is None or previous.durable):
            log.warning(
                "Redis persistence is %s: run Redis with appendonly yes and appendfsync everysec"
                " (or always)",
                state.describe(),
                extra={"component": self.who},
            )
        elif state.durable and previous is not None and not previous.durable:
            log.info("Redis persistence is %s", state.describe(), extra={"component": self.who})
        return state
