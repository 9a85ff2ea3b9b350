"""MSG91's health as the sends see it: no request of its own, ever.

A health check that called MSG91 per probe would cost a request per probe and per replica, and
would need credentials the webhook does not always hold. Instead every send attempt
(`sending.Sender`) tells `SendHealth` its outcome, and the last one is kept in Redis
(``sb:{t}:msg91:health``, `keyspace.msg91_health_key`) for whoever asks, the webhook's
``/healthz/deps`` in the first place (`read_health`).

- Up: MSG91 answered (accepted, rejected the message, or rate limited us).
- Down: a timeout, a failed connection, a 5xx, or an authentication error (no send can pass).
- Unknown: no send recorded within `STALE_SECONDS` (a quiet tenant says nothing about MSG91).

Writes are cheap by construction: a worker writes when the verdict changes, else at most once per
`REFRESH_SECONDS`; a failed write is logged and never fails the send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.msg91.errors import AttemptOutcome

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
"""How often an unchanged verdict is written again (so readers see it is recent)."""
STALE_SECONDS = 900
"""A record older than this (its key expires) reads as unknown."""
_UP = frozenset({AttemptOutcome.ACCEPTED, AttemptOutcome.REJECTED, AttemptOutcome.RATE_LIMITED})


def is_up(outcome: AttemptOutcome) -> bool:
    return outcome in _UP


class SendHealth:
    """Worker side: records send outcomes (one per process, shared by its senders)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        tenant_id: str,
        *,
        clock: Callable[[], float] = time.time,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._redis = redis
        self._key = keyspace.msg91_health_key(tenant_id)
        self._clock = clock
        self._refresh = refresh_seconds
        self._written: tuple[AttemptOutcome, float] | None = None

    async def observe(self, outcome: AttemptOutcome) -> None:
        now = self._clock()
        last = self._written
        if last is not None and is_up(last[0]) == is_up(outcome) and now - last[1] < self._refresh:
            return
        self._written = (outcome, now)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key, mapping={"outcome": outcome.value, "at": f"{now:.3f}"})
                pipe.expire(self._key, STALE_SECONDS)
                await pipe.execute()
        except Exception as exc:  # health is advisory: never fail a send over it
            self._written = last
            log.warning("could not record MSG91 health: %s", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Msg91Health:
    outcome: AttemptOutcome | None
    """The last send attempt's outcome; None: none recorded within `STALE_SECONDS`."""
    age_seconds: float | None = None

    def describe(self) -> str:
        """ "ok (...)", "down: <outcome> (...)" or "unknown: ..." (the ``/healthz/deps`` form)."""
        if self.outcome is None or self.age_seconds is None:
            return f"unknown: no send in the last {STALE_SECONDS // 60} min"
        ago = f"last send {self.age_seconds:.0f}s ago"
        if is_up(self.outcome):
            return f"ok ({self.outcome.value}, {ago})"
        return f"down: {self.outcome.value} ({ago})"


async def read_health(redis: Any, tenant_id: str, now: float | None = None) -> Msg91Health:
    """Reader side: one HGETALL of the workers' last verdict."""
    raw = await redis.hgetall(keyspace.msg91_health_key(tenant_id))
    fields = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in (raw or {}).items()
    }
    try:
        outcome = AttemptOutcome(fields["outcome"])
        at = float(fields["at"])
    except (KeyError, ValueError):
        return Msg91Health(None)
    return Msg91Health(outcome, max(0.0, (time.time() if now is None else now) - at))
