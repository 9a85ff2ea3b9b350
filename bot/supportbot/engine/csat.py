"""CSAT: ask a satisfaction rating once per resolved conversation (flow ``csat`` section).

A survey row (`storage.csat`) is made when a conversation is resolved — the flow reached an
``action: end`` step (the engine, from the turn's `Resolved` effect), an agent handed it back
with ``resolved: true`` (the agent API), or it sat idle for ``idle_minutes`` after the bot's
last reply (the sender's scan) — and sent by `CsatSender`, a worker background task, once due.
Just before sending, `verdict` decides (pure) whether the ask still makes sense; the reasons
not to are recorded on the row:

- ``disabled``: the flow has no ``csat`` section, or not for this trigger;
- ``opted_out`` / ``handed_off``: the customer opted out, or a human owns the conversation;
- ``conversation_continued``: the customer wrote after the resolution (it was not one);
- ``window_closed``: the 24 h customer-service window closes within `WINDOW_MARGIN` (a rating
  question is not worth a paid template);
- ``cooldown``: the customer was asked within ``cooldown_hours``.

The question goes through the one delivery path (`engine.delivery.deliver_replies`) as turn
``csat:{survey id}``: exactly once even if the worker dies between the send and the row update
(the retry finds the send claimed). A tapped rating comes back as a normal inbound message; the
flow turns it into a `CsatAnswered` effect and the engine stores it (`record_rating`: only for an
asked survey of that customer, first answer wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from supportbot.engine import metrics
from supportbot.engine.delivery import deliver_replies, recipient_of
from supportbot.flow import FlowStore
from supportbot.flow.render import csat_question
from supportbot.flow.schema import Csat
from supportbot.flow.state import CsatAnswered, Effect, Resolved
from supportbot.provider.deliverer import Deliverer, ReplyStatus
from supportbot.provider.sending import DeliveryDeferred
from supportbot.storage import csat as store, queries
from supportbot.storage.db import Pool, connection
from supportbot.storage.models import Conversation, HandoffState

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
WINDOW_MARGIN = timedelta(minutes=10)
INTERVAL_SECONDS = 5.0
BATCH = 50


NOTE_RESOLVED = "resolved"
NOTE_RATINGS = "csat_ratings"


def csat_notes(effects: Sequence[Effect]) -> dict[str, Any]:
    """What a turn's plan keeps of its CSAT effects (`TurnPlan.notes`, replayed on retry)."""
    notes: dict[str, Any] = {}
    if any(isinstance(e, Resolved) for e in effects):
        notes[NOTE_RESOLVED] = True
    ratings = [[e.survey_id, e.rating] for e in effects if isinstance(e, CsatAnswered)]
    if ratings:
        notes[NOTE_RATINGS] = ratings
    return notes


def verdict(
    survey: store.Survey,
    conversation: Conversation | None,
    config: Csat | None,
    *,
    now: datetime,
    last_asked: datetime | None,
) -> str | None:
    """None: send the question now; else why not (recorded as the survey's skip reason)."""
    if config is None or survey.trigger not in config.after:
        return "disabled"
    if conversation is None or conversation.opted_out:
        return "opted_out"
    if conversation.handoff_state is not HandoffState.BOT:
        return "handed_off"
    last_inbound = conversation.last_inbound_at
    if last_inbound is None or last_inbound > survey.since_inbound:
        return "conversation_continued"
    if now >= survey.since_inbound + WINDOW - WINDOW_MARGIN:
        return "window_closed"
    if last_asked is not None and now - last_asked < timedelta(hours=config.cooldown_hours):
        return "cooldown"
    return None


async def plan_after_flow_end(
    pool: Pool, tenant_id: str, customer_id: str, config: Csat | None, *, now: datetime
) -> int | None:
    """The engine's half: a survey for a turn that reached an end step (if the flow asks)."""
    if config is None or "flow_end" not in config.after:
        return None
    return await store.create(
        pool, tenant_id, customer_id, "flow_end", now=now, delay_seconds=config.delay_seconds
    )


async def record_rating(
    pool: Pool, tenant_id: str, customer_id: str, survey_id: int, rating: int, *, now: datetime
) -> bool:
    scale = await store.record_rating(pool, tenant_id, customer_id, survey_id, rating, at=now)
    if scale is None:
        metrics.CSAT_RATINGS_REFUSED.inc()
        log.info("CSAT rating not recorded (not an open survey of this customer)")
        return False
    metrics.CSAT_RATINGS.labels(str(scale)).observe(rating)
    return True


class CsatSender:
    """The worker's background task: make idle surveys, then ask the due ones."""

    def __init__(
        self,
        pool: Pool,
        deliverer: Deliverer,
        flows: FlowStore,
        tenant_id: str,
        *,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.deliverer = deliverer
        self.flows = flows
        self.tenant_id = tenant_id
        self.interval = interval
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    async def tick(self) -> int:
        """One pass; returns how many questions were sent."""
        config = self.flows.current().csat
        if config is not None and "idle" in config.after:
            made = await store.create_idle(
                self.pool,
                self.tenant_id,
                now=self.now(),
                idle=timedelta(minutes=config.idle_minutes),
                window=WINDOW - WINDOW_MARGIN,
            )
            if made:
                log.info("CSAT surveys planned for idle conversations", extra={"count": made})
        return await self.ask_due(config)

    async def ask_due(self, config: Csat | None) -> int:
        sent = 0
        async with connection(self.pool) as conn, conn.transaction():
            for survey in await store.claim_due(conn, self.tenant_id, self.now(), BATCH):
                if config is not None and self.now() < survey.created_at + timedelta(
                    seconds=config.delay_seconds
                ):
                    continue  # made by the agent API, which does not know the flow's delay
                conversation = await queries.get_conversation(
                    self.pool, self.tenant_id, survey.customer_id
                )
                last = await store.last_asked_at(conn, self.tenant_id, survey.customer_id)
                why_not = verdict(survey, conversation, config, now=self.now(), last_asked=last)
                if why_not is not None or conversation is None or config is None:
                    await store.mark_skipped(conn, survey.id, why_not or "disabled")
                    metrics.CSAT_SURVEYS.labels(survey.trigger, why_not or "disabled").inc()
                    continue
                try:
                    outcomes = await deliver_replies(
                        self.pool,
                        self.deliverer,
                        recipient_of(conversation),
                        f"csat:{survey.id}",
                        [csat_question(config, survey.id)],
                    )
                except DeliveryDeferred:
                    # MSG91 is down: this survey stays pending for the next pass (the ones
                    # settled before it in this pass commit with the transaction)
                    log.warning("CSAT question deferred: MSG91 unavailable")
                    break
                if all(o.status is ReplyStatus.UNDELIVERABLE for o in outcomes):
                    await store.mark_skipped(conn, survey.id, "undeliverable")
                    metrics.CSAT_SURVEYS.labels(survey.trigger, "undeliverable").inc()
                    continue
                await store.mark_asked(conn, survey.id, at=self.now(), scale=config.scale)
                metrics.CSAT_SURVEYS.labels(survey.trigger, "asked").inc()
                sent += 1
        return sent
