"""One message to one recipient, with rate limiting, retries and an attempt record per try.

`Sender.send` waits for the shared rate limit before EVERY attempt (a retry is a request too),
retries `RetryableSendError`s with exponential backoff and full jitter (Retry-After honoured),
gives up at once on `DefinitiveSendError`, and raises `DeliveryDeferred` when the attempts run
out, so the turn can be handed back and retried later. Each attempt's outcome also feeds MSG91's
health (`health.SendHealth`, shown by the webhook's ``/healthz/deps``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from supportbot.messages import OutboundMessage
from supportbot.provider import metrics
from supportbot.provider.attempts import AttemptRecorder, DeliveryAttempt, SendContext
from supportbot.provider.backoff import RetryPolicy, backoff_delay
from supportbot.provider.health import SendHealth
from supportbot.provider.interface import (
    AttemptOutcome,
    DeliveryError,
    SendError,
    SendRequest,
    SendResult,
    SendTransport,
)
from supportbot.provider.ratelimit import SendRateLimiter

log = logging.getLogger(__name__)


class DeliveryDeferred(DeliveryError):
    """Every attempt failed with a retryable error; `last` is the final one."""

    def __init__(self, last: SendError, attempts: int) -> None:
        self.last = last
        self.attempts = attempts
        super().__init__(f"gave up after {attempts} attempts: {last}")


class Sender:
    def __init__(
        self,
        client: SendTransport,
        *,
        limiter: SendRateLimiter | None = None,
        recorder: AttemptRecorder | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_rate_wait: float | None = None,
        health: SendHealth | None = None,
    ) -> None:
        self.client = client
        name = getattr(client, "name", "msg91")  # a bare Msg91Client has no name
        self._attempt_message = f"{name} send attempt"
        """The log message of each attempt: "msg91 send attempt" as before, "meta ..." for Meta."""
        self.health = health
        self.limiter = limiter
        self.recorder = recorder
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep
        self._max_rate_wait = max_rate_wait

    async def send(
        self,
        ctx: SendContext,
        recipient: str,
        message: OutboundMessage,
        *,
        before_attempt: Callable[[int], Awaitable[None]] | None = None,
    ) -> SendResult:
        """Deliver through the provider (accepted ≠ delivered). Raises InvalidOutboundMessage,
        DefinitiveSendError, DeliveryDeferred or RateLimitTimeout.

        `before_attempt(n)` runs right before HTTP attempt n (after the rate-limit wait); it may
        raise to stop sending (the deliverer's lease fence)."""
        request = self.client.request_for(recipient, message)
        attempt = 0
        while True:
            attempt += 1
            waited = await self.limiter.acquire(self._max_rate_wait) if self.limiter else 0.0
            if before_attempt is not None:
                await before_attempt(attempt)
            started, t0 = time.time(), time.monotonic()
            try:
                result = await self.client.post(request)
            except SendError as err:
                duration = time.monotonic() - t0
                last = not err.classification.retryable or attempt >= self.policy.max_attempts
                delay = (
                    None
                    if last
                    else backoff_delay(self.policy, attempt, self._rng, err.retry_after)
                )
                await self._record(ctx, request, attempt, started, duration, waited, err, delay)
                if not err.classification.retryable:
                    raise
                if delay is None:
                    raise DeliveryDeferred(err, attempt) from err
                await self._sleep(delay)
                continue
            duration = time.monotonic() - t0
            await self._record(ctx, request, attempt, started, duration, waited, result, None)
            return result

    async def record_confirmed(
        self, ctx: SendContext, recipient: str, message: OutboundMessage, provider_id: str
    ) -> None:
        """Record an attempt whose response was never read (its sender stopped) as accepted
        with `provider_id`, which a delivery report revealed (`indoubt`); attempt number 0."""
        request = self.client.request_for(recipient, message)
        ok = SendResult(
            request=request,
            status_code=200,
            message_uuid=provider_id,
            request_id=None,
            response_text="(confirmed by a delivery report; the response was never read)",
        )
        await self._record(ctx, request, 0, time.time(), 0.0, 0.0, ok, None)

    async def _record(
        self,
        ctx: SendContext,
        request: SendRequest,
        attempt: int,
        started: float,
        duration: float,
        waited: float,
        result: SendResult | SendError,
        retry_in: float | None,
    ) -> None:
        ok = result if isinstance(result, SendResult) else None
        err = result if isinstance(result, SendError) else None
        record = DeliveryAttempt(
            tenant_id=ctx.tenant_id,
            customer_id=ctx.customer_id,
            turn_id=ctx.turn_id,
            seq=ctx.seq,
            attempt=attempt,
            outcome=err.outcome if err else AttemptOutcome.ACCEPTED,
            path=request.path,
            request_body=request.body,
            started_at=started,
            duration_seconds=duration,
            rate_limit_wait_seconds=waited,
            http_status=result.status_code,
            provider_message_id=ok.provider_message_id if ok else None,
            request_id=ok.request_id if ok else None,
            error_code=err.classification.error_code if err else None,
            error_reason=err.classification.reason if err else None,
            retry_in_seconds=retry_in,
            response_text=result.response_text,
        )
        metrics.DELIVERY_ATTEMPTS.labels(record.outcome.value).inc()
        metrics.DELIVERY_ATTEMPT_SECONDS.observe(duration)
        if self.health is not None and attempt > 0:  # attempt 0: confirmed later, not a request
            await self.health.observe(record.outcome)
        log.info(
            self._attempt_message,
            extra={
                "turn_id": ctx.turn_id,
                "seq": ctx.seq,
                "attempt": attempt,
                "outcome": record.outcome.value,
                "http_status": record.http_status,
                "retry_in": retry_in,
            },
        )
        if self.recorder is None:
            return
        try:
            await self.recorder.record_attempt(record)
        except Exception:
            log.exception("could not record a delivery attempt", extra={"turn_id": ctx.turn_id})
