"""`LeaseKeeper`: one task keeps every conversation lease of this worker alive, in batches.

A drain registers its lease (`hold`) as soon as it acquired it and releases it when it is done.
Every `interval` seconds the keeper renews all held leases with `scripts.RENEW_MANY`
(`BATCH` leases per round trip) over its OWN Redis connection, so renewals never queue behind
turn traffic in the worker's shared pool, and 1,000 leases cost two round trips instead of 1,000
tasks and round trips.

A lease is reported lost (`on_lost` is called once) when:

- a renewal finds it held by another token or missing ("taken"), except while the drain is
  `settling` (its own FINISH/PARK may delete or hand over the lease at that very moment: the
  finish-vs-renewal race that used to be logged as a lost lease);
- it was not confirmed for `lease_seconds - margin` ("unconfirmed": Redis unreachable or the
  keeper starved). The drain then stops BEFORE the lease can expire and another worker can take
  the conversation over: self-fencing on the local monotonic clock.

The lease value is still the fence: every later mailbox script and every reply send checks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from supportbot.queueing import scripts
from supportbot.queueing.metrics import WorkerMetrics

log = logging.getLogger(__name__)

BATCH = 500
"""Leases renewed per script call."""


def renew_interval(lease_seconds: float) -> float:
    """A lease is renewed six times per lifetime: it survives four missed rounds."""
    return max(lease_seconds / 6, 0.05)


def fence_margin(lease_seconds: float) -> float:
    """A drain gives up this long before its unconfirmed lease could expire."""
    return lease_seconds / 6


@dataclass(eq=False)
class HeldLease:
    key: str
    token: str
    conv: str
    on_lost: Callable[[str], None]
    confirmed_until: float
    """Monotonic time until which the lease is known to be ours (renewal sent + lease)."""
    lost: str | None = None
    """Why the lease is gone ("taken" / "unconfirmed"); None while held."""
    settling: bool = False
    """The drain's final script is running: a missing lease is expected, not a loss."""
    held_since: float = field(default_factory=time.monotonic)


class LeaseKeeper:
    def __init__(
        self,
        redis: aioredis.Redis,
        lease_seconds: float,
        metrics: WorkerMetrics,
    ) -> None:
        self._redis = redis
        self._lease_seconds = lease_seconds
        self._lease_ms = int(lease_seconds * 1000)
        self._metrics = metrics
        self._renew = redis.register_script(scripts.RENEW_MANY)
        self._held: dict[int, HeldLease] = {}
        self.interval = renew_interval(lease_seconds)
        self.margin = fence_margin(lease_seconds)

    def __len__(self) -> int:
        return len(self._held)

    def hold(
        self, key: str, token: str, conv: str, sent_at: float, on_lost: Callable[[str], None]
    ) -> HeldLease:
        """Keep `key` (= `token` since the acquire sent at monotonic `sent_at`) alive."""
        held = HeldLease(key, token, conv, on_lost, sent_at + self._lease_seconds)
        self._held[id(held)] = held
        return held

    def release(self, held: HeldLease) -> None:
        self._held.pop(id(held), None)

    async def run(self, closing: asyncio.Event) -> None:
        """Renew until `closing` is set (or the task is cancelled)."""
        while not closing.is_set():
            started = time.monotonic()
            try:
                await self.renew_once()
            except Exception:
                log.exception("lease renewal round failed")
            self.fence_unconfirmed()
            pause = self.interval - (time.monotonic() - started)
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closing.wait(), pause)

    async def renew_once(self) -> None:
        """One round: renew every held lease; report the ones found taken."""
        current = [h for h in self._held.values() if h.lost is None]
        for first in range(0, len(current), BATCH):
            chunk = current[first : first + BATCH]
            sent = time.monotonic()
            try:
                reply = await self._renew(
                    keys=[h.key for h in chunk], args=[self._lease_ms, *(h.token for h in chunk)]
                )
            except Exception as exc:
                log.warning("lease renewal failed (%s: %s)", type(exc).__name__, exc)
                continue
            done = time.monotonic()
            self._metrics.lease_renew_seconds.observe(done - sent)
            for held, ok in zip(chunk, reply, strict=True):
                if id(held) not in self._held or held.lost is not None:
                    continue  # released (or fenced) while the round trip was in flight
                if int(ok):
                    gap = sent - (held.confirmed_until - self._lease_seconds)
                    self._metrics.lease_renew_gap_seconds.observe(max(gap, 0.0))
                    held.confirmed_until = sent + self._lease_seconds
                elif not held.settling:
                    self._lose(held, "taken")

    def fence_unconfirmed(self) -> None:
        """Give up leases that might expire before the keeper can confirm them."""
        now = time.monotonic()
        for held in list(self._held.values()):
            if held.lost is None and not held.settling and now > held.confirmed_until - self.margin:
                self._lose(held, "unconfirmed")

    def _lose(self, held: HeldLease, reason: str) -> None:
        held.lost = reason
        self._metrics.leases_lost.inc()
        log.warning(
            "lease %s after %.1fs; abandoning the turn (unconfirmed for %.1fs)",
            "taken by another drain" if reason == "taken" else "not confirmed in time",
            time.monotonic() - held.held_since,
            time.monotonic() - (held.confirmed_until - self._lease_seconds),
            extra={"conv": held.conv},
        )
        held.on_lost(reason)
