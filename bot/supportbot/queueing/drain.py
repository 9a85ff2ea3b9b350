"""One drain job: take the conversation's lease, coalesce a burst into one turn, run it, ack.

A drain job runs at most ONE turn. When more messages are waiting afterwards, FINISH atomically
hands the conversation to a freshly enqueued drain job (fair to other conversations, and one rq
job = one turn, so rq's timeout/retry/registries describe turns).

Outages are not failures: a handler that raises `TurnDeferred` (PostgreSQL, Redis or MSG91 down)
gets the same turn run again in place after a capped, jittered backoff, with the conversation
still held (so its order is kept) and no attempt counted, until the turn's retry deadline
(`turn_retry_deadline_seconds` after its first message); only then is it dead-lettered. Other
exceptions propagate to the worker, which parks the conversation for rq's retry or
dead-letters it when retries are exhausted.

Ownership: the worker's `LeaseKeeper` renews the lease; when it is lost the running turn is
cancelled (`LeaseLost`). The turn carries the lease key and token (`Turn.lease_key`,
`Turn.lease_token`) so its side effects can be fenced: the MSG91 deliverer claims each reply only
while the lease still holds this run's token, so a run that lost its lease never sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from rq.timeouts import JobTimeoutException

from supportbot import keyspace, retrying
from supportbot.messages import Turn, TurnDeferred, TurnHandler
from supportbot.observability import request_scope
from supportbot.queueing import rqjobs
from supportbot.queueing.entries import EntryError, decode_entry
from supportbot.queueing.leases import HeldLease, LeaseKeeper
from supportbot.queueing.mailbox import Acquired, ClaimStatus, Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)

MAX_BATCH = 50
"""Most messages coalesced into one turn."""
MAX_TURN_ATTEMPTS = rqjobs.DRAIN_RETRIES + 3
"""A turn re-run more often than this (retries plus crash takeovers) is dead-lettered unrun."""
_JITTER = random.Random()  # noqa: S311 - retry jitter, not cryptography


class DrainOutcome(StrEnum):
    DONE = "done"
    IDLE = "idle"
    """Nothing was pending."""
    SKIPPED = "skipped"
    """Another drain owns the conversation."""
    DEAD = "dead_lettered"
    LOST = "lease_lost"


class HandBack(Exception):
    """The worker is stopping before this drain started its turn: requeue the job."""


class LeaseLost(Exception):
    """Another drain owns the conversation now; this run must not touch it."""


def coalesce_delay(now: float, first_at: float, last_at: float, window: float, cap: float) -> float:
    """Seconds to keep waiting for more messages before claiming (0 = claim now).

    Waits until the conversation has been quiet for `window` seconds since its newest pending
    message, but never past `cap` seconds after its oldest one.
    """
    quiet_left = last_at + window - now
    cap_left = first_at + cap - now
    return max(0.0, min(quiet_left, cap_left))


def outage_delay(waits: int, cap: float, rng: random.Random) -> float:
    """Pause before running a deferred turn again after its `waits`-th deferral.

    Exponential from 0.5 s, capped at `cap`, with "equal jitter" (half fixed, half random) so a
    fleet of waiting turns spreads its retries out but each still retries at least every `cap`
    seconds: an answer is at most `cap` late after the dependency returns.
    """
    ceiling = retrying.exponential_ceiling(min(waits - 1, 30), 0.5, cap)
    return retrying.equal_jitter(ceiling, rng)


def retry_backoff(attempt: int) -> float:
    """Pause before re-running a turn: 0, then 1, 2, 4 ... capped at 10 seconds (no jitter)."""
    return 0.0 if attempt <= 1 else retrying.exponential_ceiling(min(attempt - 2, 30), 1.0, 10.0)


@dataclass(frozen=True, slots=True)
class DrainContext:
    settings: BotSettings
    mailbox: Mailbox
    handler: TurnHandler
    metrics: WorkerMetrics
    stopping: asyncio.Event
    keeper: LeaseKeeper


class DrainRun:
    """The execution of one drain job for conversation `ref`.

    The worker calls `acquire` right after dequeuing (before rq's bookkeeping, which may wait for
    a thread), so the conversation's lease is held and kept alive by the `LeaseKeeper` from then
    on; `run` then runs at most one turn and always releases the lease from the keeper.
    """

    def __init__(self, ctx: DrainContext, job_id: str, ref: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.ref = ref
        self.token = f"r:{job_id}:{uuid.uuid4().hex[:8]}"
        self.owned = False
        self._acquired: Acquired | None = None
        self._held: HeldLease | None = None
        self._task: asyncio.Task[DrainOutcome] | None = None

    def lost(self) -> bool:
        """The keeper found the lease taken, or could not confirm it in time."""
        return self._held is not None and self._held.lost is not None

    async def acquire(self) -> bool:
        """Take the conversation (at most once per run); True when this run owns it."""
        if self._acquired is None:
            sent = time.monotonic()
            self._acquired = await self.ctx.mailbox.acquire(self.ref, self.job_id, self.token)
            if self._acquired is not Acquired.NO:
                self.owned = True
                lease = self.ctx.mailbox.keys(self.ref).lease
                self._held = self.ctx.keeper.hold(lease, self.token, self.ref, sent, self._on_lost)
        return self.owned

    def release(self) -> None:
        """Stop keeping the lease alive (idempotent)."""
        if self._held is not None:
            self.ctx.keeper.release(self._held)

    def _on_lost(self, reason: str) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel(f"lease {reason}")

    async def run(self) -> DrainOutcome:
        try:
            if not await self.acquire():
                return DrainOutcome.SKIPPED
            if self.lost():  # lost while the job waited for rq bookkeeping
                raise LeaseLost(self.job_id)
            task = asyncio.current_task()
            assert task is not None
            self._task = task
            try:
                return await self._one_turn()
            except asyncio.CancelledError:
                if self.lost() and task.uncancel() == 0:
                    raise LeaseLost(self.job_id) from None
                raise
            except HandBack:
                raise
            except Exception as exc:
                if self.lost() or not await self._still_ours():
                    raise LeaseLost(self.job_id) from exc
                raise
        finally:
            self._task = None
            self.release()

    async def _still_ours(self) -> bool:
        """After a failure: does this run still hold the lease? (A fenced send raises before
        the keeper's next round noticed the loss.) Redis errors count as "still ours"."""
        try:
            return await self.ctx.mailbox.renew(self.ref, self.token)
        except Exception:
            return True

    def _settling(self) -> None:
        if self._held is not None:
            self._held.settling = True

    async def _wait_for_burst(self) -> bool:
        """Coalescing wait; False when nothing is pending."""
        s = self.ctx.settings
        if s.coalesce_window_seconds <= 0:
            return True  # nothing to wait for: the claim itself tells whether anything is pending
        while True:
            peek = await self.ctx.mailbox.peek(self.ref)
            if peek.held:
                return True
            if not peek.pending:
                return False
            if peek.first is None or peek.last is None:
                return True  # undecodable entries: claim them and dead-letter below
            delay = coalesce_delay(
                time.time(),
                peek.first.received_at,
                peek.last.received_at,
                s.coalesce_window_seconds,
                s.coalesce_max_wait_seconds,
            )
            if delay <= 0:
                return True
            await self._sleep_unless_stopping(delay)

    async def _sleep_unless_stopping(self, delay: float) -> None:
        if self.ctx.stopping.is_set():
            raise HandBack(self.job_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ctx.stopping.wait(), delay)
        if self.ctx.stopping.is_set():
            raise HandBack(self.job_id)

    async def _one_turn(self) -> DrainOutcome:
        mb, s = self.ctx.mailbox, self.ctx.settings
        if not await self._wait_for_burst():
            return await self._finish(ack=False, done=DrainOutcome.IDLE)
        if self.ctx.stopping.is_set():
            raise HandBack(self.job_id)
        claim = await mb.claim(self.ref, self.token, MAX_BATCH)
        if claim.status is ClaimStatus.LOST:
            return DrainOutcome.LOST
        if claim.status is ClaimStatus.EMPTY:
            return await self._finish(ack=False, done=DrainOutcome.IDLE)
        if self._acquired is Acquired.TAKEOVER and claim.attempt > 1:
            self.ctx.metrics.lease_takeovers.inc()  # found an orphaned turn without the sweeper
        try:
            messages = tuple(decode_entry(e) for e in claim.entries)
        except EntryError as exc:
            return await self._dead(f"undecodable inbox entry: {exc}")
        if claim.attempt > MAX_TURN_ATTEMPTS:
            return await self._dead(f"turn ran {claim.attempt - 1} times without success")
        turn = Turn(
            turn_id=keyspace.turn_id_for(
                s.tenant_id, self.ref, messages[0].message_id, len(messages)
            ),
            tenant_id=s.tenant_id,
            customer_id=messages[0].customer_id,
            messages=messages,
            attempt=claim.attempt,
            lease_key=mb.keys(self.ref).lease,
            lease_token=self.token,
        )
        with request_scope(turn.request_id):  # the turn's log records, LLM call and sends
            return await self._run_turn(turn)

    async def _run_turn(self, turn: Turn) -> DrainOutcome:
        messages = turn.messages
        if turn.attempt > 1:
            await self._sleep_unless_stopping(retry_backoff(turn.attempt))
        try:
            gave_up = await self._handle_until_done(turn)
        except HandBack:
            raise
        except Exception:
            if len(messages) > 1:
                await self._isolate(len(messages))
            raise
        if gave_up is not None:
            return await self._dead(gave_up)
        return await self._finish(ack=True, done=DrainOutcome.DONE)

    async def _isolate(self, size: int) -> None:
        """A coalesced turn failed: its retry runs the oldest message alone and the others go
        back to the inbox, so one message that cannot be processed is dead-lettered on its own
        and the rest are still answered (each later failure splits again)."""
        try:
            moved = await self.ctx.mailbox.split(self.ref, self.token)
        except Exception:
            log.exception("could not split a failed turn", extra={"conv": self.ref})
            return
        if moved > 0:
            log.warning(
                "a turn of %d messages failed: its retry runs the first message alone",
                size,
                extra={"conv": self.ref},
            )

    async def _handle_until_done(self, turn: Turn) -> str | None:
        """Run the turn; while a dependency is down (`TurnDeferred`) keep the conversation, wait
        (`outage_delay`) and run the same turn again, without counting an attempt, until the
        turn's retry deadline. Returns None when done, or the dead-letter reason past the
        deadline. A stop request hands the turn back while it waits."""
        s, m = self.ctx.settings, self.ctx.metrics
        deadline = min(msg.received_at for msg in turn.messages) + s.turn_retry_deadline_seconds
        waits = 0
        while True:
            try:
                await self._handle(turn)
                return None
            except TurnDeferred as exc:
                waits += 1
                m.turn_deferrals.labels(dependency=exc.dependency).inc()
                delay = outage_delay(waits, s.turn_retry_max_delay_seconds, _JITTER)
                if time.time() + delay > deadline:
                    return (
                        f"{exc.dependency} unavailable past the retry deadline "
                        f"({s.turn_retry_deadline_seconds:.0f}s after the first message): "
                        f"{exc.detail}"
                    )
                log.warning(
                    "turn waits for %s; running it again in %.1fs",
                    exc.dependency,
                    delay,
                    extra={"conv": self.ref, "turn_id": turn.turn_id, "waits": waits},
                )
                m.turns_waiting.inc()
                try:
                    await self._sleep_unless_stopping(delay)
                finally:
                    m.turns_waiting.dec()

    async def _handle(self, turn: Turn) -> None:
        m = self.ctx.metrics
        started = time.monotonic()
        m.turns_in_flight.inc()
        outcome = "failed"
        try:
            async with asyncio.timeout(self.ctx.settings.turn_timeout_seconds):
                await self.ctx.handler.handle_turn(turn)
            outcome = "success"
        except TimeoutError:
            outcome = "timeout"
            raise JobTimeoutException(
                f"turn {turn.turn_id} exceeded {self.ctx.settings.turn_timeout_seconds}s"
            ) from None
        except TurnDeferred:
            outcome = "deferred"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            m.turns_in_flight.dec()
            m.turns_total.labels(outcome=outcome).inc()
            m.turn_seconds.observe(time.monotonic() - started)

    async def _finish(self, *, ack: bool, done: DrainOutcome) -> DrainOutcome:
        self._settling()
        result = await self.ctx.mailbox.finish(self.ref, self.token, self.job_id, ack=ack)
        return DrainOutcome.LOST if result < 0 else done

    async def _dead(self, reason: str) -> DrainOutcome:
        log.error("dead-lettering turn: %s", reason, extra={"conv": self.ref})
        self.ctx.metrics.turns_total.labels(outcome="dead_lettered").inc()
        self._settling()
        await self.ctx.mailbox.dead_letter(self.ref, self.token, self.job_id, reason)
        return DrainOutcome.DEAD
