"""Per-conversation session state in Redis: JSON at ``sb:{tenant}:session:{customer_id}`` with an
idle TTL (settings.session_ttl_seconds, 1 h by default) refreshed on every access.

`get` creates the session when it is missing (as the seed's SessionService does) and refreshes
the TTL; `update` is an atomic read-modify-write (WATCH/MULTI, retried on conflict) that the
conversation engine uses so concurrent writers never lose each other's changes. The session holds
only the flow's working state (`data`); the durable history lives in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from supportbot import keyspace
from supportbot.storage.errors import SessionConflictError

DEFAULT_TTL_SECONDS = 3600
MAX_UPDATE_ATTEMPTS = 50


@dataclass(slots=True)
class Session:
    tenant_id: str
    customer_id: str
    created_at: float
    updated_at: float
    data: dict[str, Any] = field(default_factory=dict)
    """The engine's state: flow step, slots, counters... (JSON-serialisable values only)."""
    new: bool = False
    """True when this call created the session (first contact or after the idle TTL)."""

    def to_json(self) -> str:
        doc = {"created_at": self.created_at, "updated_at": self.updated_at, "data": self.data}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, tenant_id: str, customer_id: str, raw: str | bytes) -> Session:
        doc = json.loads(raw)
        return cls(
            tenant_id=tenant_id,
            customer_id=customer_id,
            created_at=float(doc["created_at"]),
            updated_at=float(doc["updated_at"]),
            data=dict(doc.get("data") or {}),
        )


class SessionStore:
    """Sessions of one tenant."""

    def __init__(
        self,
        redis: aioredis.Redis,
        tenant_id: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds < 1:
            raise ValueError("session TTL must be at least 1 second")
        self._redis = redis
        self.tenant_id = tenant_id
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def key(self, customer_id: str) -> str:
        return keyspace.session_key(self.tenant_id, customer_id)

    def _fresh(self, customer_id: str) -> Session:
        now = self._clock()
        return Session(self.tenant_id, customer_id, now, now, {}, new=True)

    async def get(self, customer_id: str) -> Session:
        """The session, created if missing; either way its idle TTL restarts."""
        key = self.key(customer_id)
        while True:
            raw = await self._redis.getex(key, ex=self.ttl_seconds)
            if raw is not None:
                return Session.from_json(self.tenant_id, customer_id, raw)
            session = self._fresh(customer_id)
            if await self._redis.set(key, session.to_json(), ex=self.ttl_seconds, nx=True):
                return session
            # another writer created it between our GETEX and SET: read theirs

    async def peek(self, customer_id: str) -> Session | None:
        """The session without creating it or touching its TTL."""
        raw = await self._redis.get(self.key(customer_id))
        return None if raw is None else Session.from_json(self.tenant_id, customer_id, raw)

    async def save(self, session: Session) -> None:
        """Overwrite the session (last writer wins; prefer `update`) and restart its TTL."""
        session.updated_at = self._clock()
        await self._redis.set(self.key(session.customer_id), session.to_json(), ex=self.ttl_seconds)

    async def update(self, customer_id: str, change: Callable[[Session], None]) -> Session:
        """Atomically apply `change` (which mutates `session.data`) and store the result.

        `change` may run more than once when another writer wins a race, so it must have no
        side effects beyond the session it is given. The session is created when missing.
        """
        key = self.key(customer_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for attempt in range(MAX_UPDATE_ATTEMPTS):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    session = (
                        self._fresh(customer_id)
                        if raw is None
                        else Session.from_json(self.tenant_id, customer_id, raw)
                    )
                    change(session)
                    session.updated_at = self._clock()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, session.to_json(), ex=self.ttl_seconds)
                    await pipe.execute()
                    return session
                except WatchError:
                    # back off a little (with jitter) so a crowd of writers spreads out
                    await asyncio.sleep(random.uniform(0, 0.001 * (attempt + 1)))  # noqa: S311
        raise SessionConflictError(
            f"session update lost {MAX_UPDATE_ATTEMPTS} races in a row ({self.tenant_id})"
        )

    async def touch(self, customer_id: str) -> bool:
        """Restart the idle TTL; False if there is no session."""
        return bool(await self._redis.expire(self.key(customer_id), self.ttl_seconds))

    async def delete(self, customer_id: str) -> bool:
        return bool(await self._redis.delete(self.key(customer_id)))

    async def ttl(self, customer_id: str) -> int:
        """Seconds left (-2 when missing), for health checks and tests."""
        return int(await self._redis.ttl(self.key(customer_id)))
