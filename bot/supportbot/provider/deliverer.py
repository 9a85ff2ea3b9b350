"""A turn's replies: in order, inside the 24 h rules, exactly once per turn.

`Deliverer.send_turn_replies(turn_id, customer, messages, fence=...)` is what the conversation
engine (and the agent API) calls. For each planned reply (see `window.plan_replies`) it:

1. claims the Redis marker ``sb:<tenant>:sent:<turn_id>:<seq>`` atomically (`claims.SendClaims`,
   one Lua script): only while the `fence` (the conversation lease) still holds the caller's
   token, and only if no terminal outcome is recorded. A terminal marker means the reply was
   settled by an earlier run of this turn: it is NOT sent again (its stored outcome is returned
   with ``replayed=True``). A recent "sending" claim of another owner is waited for;
2. sends it (`sending.Sender`: rate limit, retries, attempt records); before every retry attempt
   the claim and the fence are checked again, so an owner that lost the lease stops between
   attempts (`SendFenced`);
3. records the terminal outcome (sent, template sent, undeliverable) in the marker (TTL 7 days);
   when the send surely did not go out (retries exhausted, fenced, rate-limit timeout) the claim
   is released instead, so the next run sends at once.

Replies go out strictly one after another. A definitive failure (invalid message, MSG91 4xx)
makes that reply undeliverable and the next replies are still sent. When retries run out
(`DeliveryDeferred`) the method raises, later replies are not sent, and the turn runner retries
the turn; replies already marked are skipped then. A run that lost its conversation lease raises
`SendFenced` without sending; the new owner's run of the same turn waits for the old owner's
in-flight claim, so replies stay in order and a reply is never sent by two live owners.

Deterministic rule for a claim left by an owner that stopped mid-send (crash, cancellation,
lease lost): once the claim is older than `in_flight_seconds` (the Redis clock; longer than one
HTTP attempt can take) no request of that owner can still be in flight, and the next run takes
the claim over and sends the reply again (at-least-once for that reply; logged).

In-doubt sends: before sending a taken-over reply again, the deliverer asks `indoubt` whether a
delivery report shows MSG91 accepted the stopped owner's attempt (an outbound report to this
customer, received after that attempt started, naming no recorded send); if so the reply is
settled as sent with that id and not sent again.

Residual duplicate windows (documented, not closed): (a) an owner that stops after MSG91
accepted a send and before the marker was written (crash, or cancelled mid-request) gets that one
reply sent again by the next run when no delivery report of it arrived by then (MSG91 has no
idempotency key; `indoubt`); (b) a read timeout after MSG91
accepted the request is retried like any timeout; (c) a process stalled (not merely slow) for
longer than `in_flight_seconds` in the middle of an HTTP attempt can finish that attempt after
the next owner resent. Unfenced callers (no `fence`) get (a)-(c) and the claim protocol.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import OutboundMessage
from supportbot.observability import mask_phone
from supportbot.provider import metrics
from supportbot.provider.attempts import AttemptRecorder, SendContext
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.claims import ClaimState, SendClaims, SendFence, SendFenced
from supportbot.provider.health import SendHealth
from supportbot.provider.indoubt import InDoubtResolver
from supportbot.provider.interface import (
    DefinitiveSendError,
    InvalidOutboundMessage,
    SendTransport,
)
from supportbot.provider.ratelimit import RateLimitTimeout, SendRateLimiter
from supportbot.provider.sending import DeliveryDeferred, Sender
from supportbot.provider.window import PlannedReply, fallback_template, plan_replies, window_open
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)

MARKER_TTL_SECONDS = 7 * 24 * 3600
IN_FLIGHT_SECONDS = 60.0
"""Longer than one MSG91 HTTP attempt can take (client timeouts: connect 5 s, read/write/pool
10 s each): a "sending" claim older than this belongs to an owner with nothing in flight."""
CLAIM_POLL_SECONDS = 0.5

__all__ = [
    "Deliverer",
    "Recipient",
    "ReplyOutcome",
    "ReplyStatus",
    "SendFence",
    "SendFenced",
]


@dataclass(frozen=True, slots=True)
class Recipient:
    """The customer a turn replies to."""

    customer_id: str
    phone: str | None = None
    bsuid: str | None = None
    last_inbound_at: float | None = None
    """Epoch seconds of the customer's latest inbound message (opens the 24 h window)."""

    @property
    def address(self) -> str:
        """MSG91 `recipient_number`: the phone digits, else the BSUID (unconfirmed by MSG91)."""
        return self.phone or self.bsuid or ""


class ReplyStatus(StrEnum):
    SENT = "sent"
    TEMPLATE_SENT = "template_sent"
    """The out-of-window template was sent instead of this free-form reply."""
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    seq: int
    index: int
    """Position in the `messages` passed in (a long text split in parts has several outcomes)."""
    status: ReplyStatus
    provider_message_id: str | None = None
    """Id delivery reports will carry (MSG91 uuid/wamid, else request id)."""
    request_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    replayed: bool = False
    """True when an earlier run of the turn already did this; nothing was sent now."""

    def to_json(self) -> str:
        doc = asdict(self)
        doc.pop("replayed")
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_marker(cls, data: str | bytes) -> ReplyOutcome:
        doc = json.loads(data)
        doc["status"] = ReplyStatus(doc["status"])
        return cls(**doc, replayed=True)


class Deliverer:
    def __init__(
        self,
        *,
        tenant_id: str,
        redis: aioredis.Redis,
        sender: Sender,
        fallback_template: OutboundMessage | None = None,
        clock: Callable[[], float] = time.time,
        marker_ttl_seconds: int = MARKER_TTL_SECONDS,
        window_margin_seconds: float = 60.0,
        in_flight_seconds: float = IN_FLIGHT_SECONDS,
        in_doubt: InDoubtResolver | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.redis = redis
        self.sender = sender
        self.fallback_template = fallback_template
        self.clock = clock
        self.marker_ttl_seconds = marker_ttl_seconds
        self.window_margin_seconds = window_margin_seconds
        self.in_doubt = in_doubt
        self.claims = SendClaims(
            redis, ttl_seconds=marker_ttl_seconds, in_flight_seconds=in_flight_seconds
        )

    @classmethod
    def from_settings(
        cls,
        settings: BotSettings,
        redis: aioredis.Redis,
        client: SendTransport,
        *,
        recorder: AttemptRecorder | None = None,
        policy: RetryPolicy | None = None,
        in_doubt: InDoubtResolver | None = None,
    ) -> Deliverer:
        """The production wiring: shared rate limit, retries, the tenant's fallback template."""
        sender = Sender(
            client,
            limiter=SendRateLimiter.from_settings(redis, settings),
            recorder=recorder,
            policy=policy,
            health=SendHealth(redis, settings.tenant_id),
        )
        return cls(
            tenant_id=settings.tenant_id,
            redis=redis,
            sender=sender,
            fallback_template=fallback_template(settings),
            in_doubt=in_doubt,
        )

    def plan(self, customer: Recipient, messages: Sequence[OutboundMessage]) -> list[PlannedReply]:
        in_window = window_open(
            customer.last_inbound_at, self.clock(), margin=self.window_margin_seconds
        )
        return plan_replies(messages, in_window=in_window, fallback=self.fallback_template)

    async def send_turn_replies(
        self,
        turn_id: str,
        customer: Recipient,
        messages: Sequence[OutboundMessage],
        *,
        fence: SendFence | None = None,
        accepted: Mapping[int, str] | None = None,
        plan: Sequence[PlannedReply] | None = None,
    ) -> list[ReplyOutcome]:
        """Send the replies in order; one outcome per planned reply. Raises DeliveryDeferred
        (retry the turn later), SendFenced (the caller lost `fence`: it must stop) or
        RateLimitTimeout (only with a `max_rate_wait`).

        `plan` is `self.plan(customer, messages)` taken by a caller that already recorded it
        (the 24 h window is decided once per send); without it the replies are planned here.

        `accepted` (seq -> provider id) names replies a durable record (PostgreSQL) shows MSG91
        accepted: when their Redis marker is missing (lost with a Redis restart) they are
        settled from it, not sent again."""
        owner = fence.token if fence is not None else f"u:{uuid.uuid4().hex}"
        outcomes: list[ReplyOutcome] = []
        for planned in plan if plan is not None else self.plan(customer, messages):
            marker = keyspace.sent_marker_key(self.tenant_id, turn_id, planned.seq)
            known = (accepted or {}).get(planned.seq)
            outcome = await self._once(turn_id, customer, planned, marker, owner, fence, known)
            log.info(
                "reply %s",
                outcome.status.value,
                extra={
                    "turn_id": turn_id,
                    "seq": planned.seq,
                    "customer": mask_phone(customer.phone) if customer.phone else "bsuid",
                    "reason": outcome.reason,
                    "replayed": outcome.replayed,
                },
            )
            outcomes.append(outcome)
        return outcomes

    async def _once(
        self,
        turn_id: str,
        customer: Recipient,
        planned: PlannedReply,
        marker: str,
        owner: str,
        fence: SendFence | None,
        accepted_id: str | None = None,
    ) -> ReplyOutcome:
        """Claim, send and settle one reply (or replay its recorded outcome)."""
        try:
            claim = await self.claims.wait_and_claim(marker, owner, fence, CLAIM_POLL_SECONDS)
        except SendFenced:
            metrics.DELIVERIES.labels("fenced").inc()
            raise
        if claim.state is ClaimState.REPLAY:
            assert claim.marker is not None
            metrics.DELIVERIES.labels("duplicate").inc()
            return ReplyOutcome.from_marker(claim.marker)
        if accepted_id is not None and planned.skip_reason is None:
            log.warning(
                "not sending a reply again: its marker is gone but PostgreSQL records it as"
                " accepted",
                extra={"turn_id": turn_id, "seq": planned.seq},
            )
            status = ReplyStatus.TEMPLATE_SENT if planned.substituted else ReplyStatus.SENT
            recovered = ReplyOutcome(
                planned.seq, planned.index, status, provider_message_id=accepted_id
            )
            await self.claims.done(marker, recovered.to_json())
            metrics.DELIVERIES.labels("recovered").inc()
            return recovered
        if claim.took_over:
            confirmed = await self._confirmed(turn_id, customer, planned, claim.stale_since_ms)
            if confirmed is not None:
                await self.claims.done(marker, confirmed.to_json())
                metrics.DELIVERIES.labels("confirmed").inc()
                return confirmed
            log.warning(
                "sending a reply again: its previous sender stopped mid-send and no delivery"
                " report shows it was accepted",
                extra={"turn_id": turn_id, "seq": planned.seq},
            )

        async def guard(attempt: int) -> None:
            if attempt > 1:  # attempt 1 follows the claim that just checked the fence
                await self.claims.attempt(marker, owner, fence)

        try:
            outcome = await self._deliver(turn_id, customer, planned, guard)
        except (DeliveryDeferred, SendFenced, RateLimitTimeout) as exc:
            # no request of ours can be in flight: let the next run send at once
            await self.claims.release(marker, owner)
            if isinstance(exc, SendFenced):
                metrics.DELIVERIES.labels("fenced").inc()
            raise
        await self.claims.done(marker, outcome.to_json())
        metrics.DELIVERIES.labels(outcome.status.value).inc()
        return outcome

    async def _confirmed(
        self, turn_id: str, customer: Recipient, planned: PlannedReply, since_ms: int
    ) -> ReplyOutcome | None:
        """The outcome of an in-doubt send that a delivery report shows MSG91 accepted
        (`indoubt`), recorded like an accepted attempt; None when there is no such report."""
        if self.in_doubt is None or planned.skip_reason is not None:
            return None
        provider_id = await self.in_doubt.confirmed_send(customer.customer_id, since_ms)
        if provider_id is None:
            return None
        log.warning(
            "not sending a reply again: its previous sender stopped mid-send, but a delivery"
            " report shows MSG91 accepted it",
            extra={"turn_id": turn_id, "seq": planned.seq},
        )
        ctx = SendContext(self.tenant_id, customer.customer_id, turn_id, planned.seq)
        await self.sender.record_confirmed(ctx, customer.address, planned.message, provider_id)
        status = ReplyStatus.TEMPLATE_SENT if planned.substituted else ReplyStatus.SENT
        return ReplyOutcome(
            planned.seq,
            planned.index,
            status,
            provider_message_id=provider_id,
            reason="accepted before its sender stopped (confirmed by a delivery report)",
        )

    async def _deliver(
        self,
        turn_id: str,
        customer: Recipient,
        planned: PlannedReply,
        guard: Callable[[int], Awaitable[None]],
    ) -> ReplyOutcome:
        if planned.skip_reason is not None:
            return ReplyOutcome(
                planned.seq, planned.index, ReplyStatus.UNDELIVERABLE, reason=planned.skip_reason
            )
        ctx = SendContext(self.tenant_id, customer.customer_id, turn_id, planned.seq)
        try:
            result = await self.sender.send(
                ctx, customer.address, planned.message, before_attempt=guard
            )
        except InvalidOutboundMessage as exc:
            return ReplyOutcome(
                planned.seq,
                planned.index,
                ReplyStatus.UNDELIVERABLE,
                reason=str(exc),
                error_code="invalid",
            )
        except DefinitiveSendError as exc:
            return ReplyOutcome(
                planned.seq,
                planned.index,
                ReplyStatus.UNDELIVERABLE,
                reason=exc.classification.reason,
                error_code=exc.classification.error_code or str(exc.status_code),
            )
        except DeliveryDeferred:
            metrics.DELIVERIES.labels("deferred").inc()
            raise
        status = ReplyStatus.TEMPLATE_SENT if planned.substituted else ReplyStatus.SENT
        return ReplyOutcome(
            planned.seq,
            planned.index,
            status,
            provider_message_id=result.provider_message_id,
            request_id=result.request_id,
        )
