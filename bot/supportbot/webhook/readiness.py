"""Readiness: Redis answers PING. PostgreSQL and Redis persistence are checked and reported too.

Only Redis gates readiness: acknowledging a message needs nothing else (PostgreSQL is never
touched on the acknowledgement path), so during a PostgreSQL outage or failover the webhook stays
in its Service and keeps acknowledging; the messages wait in Redis and the workers answer them
when PostgreSQL is back. The PostgreSQL check (``SELECT 1``) is still reported in ``checks`` (the
agent API mounted beside the webhook needs it), and so is Redis persistence
(`queueing.persistence`: a Redis without AOF loses acknowledged messages on a restart; a warning
is logged and ``supportbot_redis_persistence_durable`` is set through `on_persistence`).

The result is cached for `ttl` seconds and concurrent probes share one check, so frequent
Kubernetes probes (or several replicas' probes) do not hammer the databases. Each check is bounded
by `timeout`. Failure details name only the exception type (messages can contain hosts or DSNs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from supportbot.queueing.persistence import PersistenceWatch


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    """check name -> "ok" or "down: <ExceptionType>" (``redis_persistence``: its description)."""


class ReadinessProbe:
    def __init__(
        self,
        redis: aioredis.Redis,
        database_url: str,
        *,
        ttl: float = 2.0,
        timeout: float = 1.5,
        on_persistence: Callable[[bool], None] | None = None,
    ) -> None:
        self._redis = redis
        self._persistence = PersistenceWatch("webhook")
        self._on_persistence = on_persistence
        self._database_url = database_url
        self._ttl = ttl
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._cached: Readiness | None = None
        self._checked_at = 0.0

    async def check(self) -> Readiness:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh()
            if cached is not None:
                return cached
            redis_state, pg_state, durability = await asyncio.gather(
                self._redis_ok(), self._postgres_ok(), self._durability()
            )
            result = Readiness(
                ready=redis_state == "ok",
                checks={
                    "redis": redis_state,
                    "postgres": pg_state,
                    "redis_persistence": durability,
                },
            )
            self._cached, self._checked_at = result, time.monotonic()
            return result

    def _fresh(self) -> Readiness | None:
        if time.monotonic() - self._checked_at < self._ttl:
            return self._cached
        return None

    async def _redis_ok(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except Exception as exc:  # any failure means "not ready"; the type says which
            return f"down: {type(exc).__name__}"
        return "ok"

    async def _durability(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                state = await self._persistence.check(self._redis)
        except Exception as exc:  # Redis down: the redis check says so; keep the last verdict
            return f"unknown: {type(exc).__name__}"
        if self._on_persistence is not None:
            self._on_persistence(state.durable)
        return state.describe()

    async def _postgres_ok(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                conn = await asyncpg.connect(self._database_url, timeout=self._timeout)
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await conn.close(timeout=self._timeout)
        except Exception as exc:  # any failure means "not ready"; the type says which
            return f"down: {type(exc).__name__}"
        return "ok"
