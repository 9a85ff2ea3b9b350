"""The sender: a worker background task that POSTs due handoff notifications.

Each pass claims up to `NotifyConfig.batch` due rows (`store.claim`) and POSTs them concurrently,
signed (`signing`), with a fresh timestamp per attempt and the row's idempotency key. Outcomes:

- 2xx: delivered;
- 408, 429, 5xx, a time-out or a connection error: retry after ``equal_jitter(min(max_delay,
  base * 2**(attempt-1)))`` (`supportbot.retrying`), or after Retry-After when the receiver asks
  for longer;
- any other status (4xx, and 3xx: redirects are not followed): failed at once, permanently;
- a retry that would fall past `give_up_seconds` after the notification was made, or beyond
  `max_attempts`, is failed instead.

Every attempt is a row of ``handoff_notification_attempts`` (outcome, HTTP status, latency,
error) and a metric; a failed notification is logged as a warning. Delivery is at least once:
a sender that dies after the receiver answered but before recording it leaves the row to be sent
again after the claim period, with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import httpx

from supportbot import retrying
from supportbot.notify import metrics, signing, store
from supportbot.notify.config import NotifyConfig
from supportbot.notify.payload import encode
from supportbot.notify.store import Claimed, Outcome
from supportbot.observability import scrub
from supportbot.storage.db import Pool

log = logging.getLogger(__name__)

USER_AGENT = "supportbot-handoff-webhook/1"
RETRYABLE_STATUSES = frozenset({408, 429})
RETRY_AFTER_CAP_SECONDS = 3600.0
STATS_EVERY_SECONDS = 5.0


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return "delivered"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    return "failed"


class HandoffNotifier:
    def __init__(
        self,
        pool: Pool,
        tenant_id: str,
        config: NotifyConfig,
        client: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.tenant_id = tenant_id
        self.config = config
        self.client = client
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.clock = clock
        self._stats_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set (supervised by `engine.runtime.background_tasks`)."""
        while not stop.is_set():
            sent = await self.run_once()
            await self._report_stats()
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.poll_seconds)

    async def run_once(self) -> int:
        """One pass: claim due rows and attempt each once. Returns how many were attempted."""
        claimed = await store.claim(
            self.pool,
            self.tenant_id,
            limit=self.config.batch,
            claim_seconds=self.config.claim_seconds,
        )
        if claimed:
            # every attempt finishes (and records itself) before an error ends the pass
            results = await asyncio.gather(
                *(self._attempt(row) for row in claimed), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(claimed)

    async def _attempt(self, row: Claimed) -> None:
        body = encode(row.payload)
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.EVENT_HEADER: row.event,
            signing.TIMESTAMP_HEADER: str(stamp),
            signing.SIGNATURE_HEADER: signing.signature(self.config.secret, stamp, body),
            signing.IDEMPOTENCY_HEADER: row.key,
            signing.ATTEMPT_HEADER: str(row.attempt),
        }
        started = time.monotonic()
        status: int | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            response = await self.client.post(self.config.url, content=body, headers=headers)
            status = response.status_code
            retry_after = retrying.parse_retry_after(
                response.headers.get("Retry-After"), self.clock()
            )
            outcome = classify(status)
            if outcome != "delivered":
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            outcome, error = "retry", scrub(f"{type(exc).__name__}: {exc}")[:300]
        elapsed = time.monotonic() - started
        delay: float | None = None
        if outcome == "retry":
            delay = self._delay(row, retry_after)
            if delay is None:
                outcome = "failed"
                error = f"gave up after {row.attempt} attempts: {error}"
        recorded = await store.record(
            self.pool,
            self.tenant_id,
            row,
            outcome,
            http_status=status,
            latency_ms=elapsed * 1000.0,
            error=error,
            retry_in=delay,
        )
        metrics.ATTEMPT_SECONDS.labels(outcome).observe(elapsed)
        if not recorded:
            log.warning(
                "handoff notification claim lost; another sender owns it",
                extra={"notification": row.id, "attempt": row.attempt},
            )
            return
        metrics.NOTIFICATIONS.labels(row.event, outcome).inc()
        context = {
            "notification": row.id,
            "event": row.event,
            "attempt": row.attempt,
            "http_status": status,
            "host": self.config.host,
        }
        if outcome == "failed":
            log.warning("handoff notification failed", extra={**context, "error": error})
        elif outcome == "retry":
            log.info(
                "handoff notification will be retried",
                extra={**context, "error": error, "retry_in": round(delay or 0.0, 3)},
            )
        else:
            log.info("handoff notification delivered", extra=context)

    def _delay(self, row: Claimed, retry_after: float | None) -> float | None:
        """Seconds until the next attempt, or None to give up."""
        if row.attempt >= self.config.max_attempts:
            return None
        ceiling = retrying.exponential_ceiling(
            row.attempt - 1, self.config.retry_base_seconds, self.config.retry_max_delay_seconds
        )
        delay = retrying.equal_jitter(ceiling, self.rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
        deadline = row.budget_from.timestamp() + self.config.give_up_seconds
        if self.clock() + delay > deadline:
            return None
        return delay

    async def _report_stats(self) -> None:
        now = time.monotonic()
        if now - self._stats_at < min(STATS_EVERY_SECONDS, self.config.poll_seconds * 5):
            return
        self._stats_at = now
        pending, oldest = await store.pending_stats(self.pool, self.tenant_id)
        metrics.PENDING.set(pending)
        metrics.OLDEST_PENDING_SECONDS.set(oldest)
