"""`ConversationEngine`: the `TurnHandler` that turns a coalesced `Turn` into replies.

For each turn:

1. store the inbound messages and upsert the conversation (idempotent on the provider id);
2. reuse the turn's stored `TurnPlan` if an earlier attempt made one, else think: load the
   durable state (handoff, opt-out) from PostgreSQL and the session from Redis (1 h idle TTL),
   hold back throttled messages, run `flow.decide`, perform its `HTTPCall`s (the tenant's
   backend, `engine.httpstep`; at most `MAX_HTTP_CALLS_PER_TURN`, each continued with
   `flow.continue_after_http`), ask the LLM for an `LLMRequest` (history
   from PostgreSQL; PII masked by the client per settings) and fall back to the flow's failure
   message plus a 'talk to a human' button when every model failed (never silence), add the
   throttle notice once; store the plan under the turn id (the HTTP results are in it: the
   replies and slots they produced, and a summary under `notes["http"]`, so a retried turn
   neither calls the backend again nor answers differently);
3. save the session, persist handoff / opt-out changes in PostgreSQL; when the tenant has a
   handoff webhook, write the turn's notification (`handoff.requested`, or
   `handoff.customer_message` for a human-owned conversation) to the outbox (`supportbot.notify`,
   once per (turn id, event); the worker's sender POSTs it);
4. deliver the replies (`delivery.deliver_replies`: history rows, MSG91, 24 h window, exactly
   once per (turn id, seq), fenced by the runner's conversation lease: a run that lost the
   lease raises `SendFenced` and sends nothing);
5. record the turn (model, tokens, cost, latency, outcome) and the metrics.

A human-owned or opted-out conversation gets no replies (the flow decides silence; STOP/START
are still honoured). An outage of a dependency (PostgreSQL, Redis, MSG91 retries exhausted:
`engine.failures`) is raised as `TurnDeferred`, which the runner waits out without counting an
attempt; the customer never hears about it (a storage error is never answered with the LLM
fallback). Any other exception is recorded as an 'error' turn and re-raised so the runner
retries the turn; every retry follows the same plan. `SendFenced` (the runner lost the lease;
another run owns the turn) is re-raised without being recorded as an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.engine import answers, control, csat, metrics
from supportbot.engine.answers import Tier
from supportbot.engine.csat import NOTE_RATINGS, NOTE_RESOLVED, csat_notes
from supportbot.engine.delivery import deliver_replies, recipient_of
from supportbot.engine.failures import deferral
from supportbot.engine.httpstep import BackendCaller
from supportbot.engine.plan import (
    LLMUsage,
    TurnPlan,
    chat_history,
    reconcile,
    select_messages,
    throttle_notice,
)
from supportbot.flow import (
    Decision,
    Flow,
    FlowStore,
    HTTPCall,
    HTTPResult,
    LLMRequest,
    OptOutChanged,
    SessionState,
    abandon_http,
    continue_after_http,
    decide,
    render_llm_failure,
    render_llm_reply,
)
from supportbot.llm import ChatMessage, LLMUnavailable, OpenRouterClient, pseudonymous_user
from supportbot.messages import InboundMessage, Turn
from supportbot.notify import Event, NotifyConfig, enqueue as enqueue_notification
from supportbot.notify.metrics import NOTIFICATIONS
from supportbot.observability import mask_phone, scrub
from supportbot.provider.deliverer import Deliverer, SendFence, SendFenced
from supportbot.provider.receipts import ReadReceipts
from supportbot.settings import BotSettings
from supportbot.storage import history, queries
from supportbot.storage.db import Pool
from supportbot.storage.models import TurnRecord
from supportbot.storage.sessions import Session, SessionStore

log = logging.getLogger(__name__)

PLAN_TTL_SECONDS = 86_400
MAX_HTTP_CALLS_PER_TURN = 3
"""HTTP steps one turn may call in a chain; past it the customer gets the flow's fallback."""
SESSION_FLOW_KEY = "flow"
"""Where the flow's `SessionState` lives inside the Redis session's data."""


class ConversationEngine:
    def __init__(
        self,
        settings: BotSettings,
        *,
        pool: Pool,
        redis: aioredis.Redis,
        flows: FlowStore,
        deliverer: Deliverer,
        llm: OpenRouterClient | None,
        backend: BackendCaller | None = None,
        clock: Callable[[], float] = time.time,
        receipts: ReadReceipts | None = None,
    ) -> None:
        self.settings = settings
        self.receipts = receipts
        """Read receipt + typing indicator at turn start (None, or a provider without them:
        none)."""
        self.tenant_id = settings.tenant_id
        self.pool = pool
        self.redis = redis
        self.flows = flows
        self.deliverer = deliverer
        self.llm = llm
        self.backend = backend
        """Performs the flow's HTTP steps; None: every call takes the step's error branch."""
        self.clock = clock
        self.sessions = SessionStore(redis, settings.tenant_id, settings.session_ttl_seconds)
        self.notify = NotifyConfig.from_settings(settings)
        """The tenant's handoff webhook (None: no notifications)."""
        self.llm_deadline_seconds = settings.turn_timeout_seconds / 2
        """The LLM (fallbacks and Retry-After waits included) gets half the turn's time."""
        self.answers = (
            answers.AnswerCache(
                redis,
                settings.tenant_id,
                ttl_seconds=settings.answer_cache_ttl_seconds,
                memory_entries=settings.answer_cache_memory_entries,
            )
            if settings.answer_cache_enabled
            else None
        )
        self.model_chain = answers.ModelChain(
            models=tuple(settings.llm_models),
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
        )
        self.http_budget_seconds = settings.turn_timeout_seconds / 4
        """The flow's HTTP calls of one turn (retries included) get a quarter of its time."""

    # --- TurnHandler ----------------------------------------------------------------------
    async def handle_turn(self, turn: Turn) -> None:
        started = time.monotonic()
        context = {
            "turn_id": turn.turn_id,
            "attempt": turn.attempt,
            "customer": mask_phone(turn.customer_id),
        }
        try:
            plan = await self._run(turn, started)
        except SendFenced:
            # the runner lost the conversation lease: another run owns the turn now
            log.warning("turn abandoned: the conversation lease was lost", extra=context)
            raise
        except Exception as exc:
            elapsed = time.monotonic() - started
            deferred = deferral(exc)
            if deferred is not None:
                # an outage, not a fault of this turn: the runner waits and runs it again
                metrics.TURNS.labels("deferred").inc()
                log.warning(
                    "turn deferred: %s unavailable",
                    deferred.dependency,
                    extra={**context, "detail": deferred.detail},
                )
                raise deferred from exc
            metrics.TURNS.labels("error").inc()
            metrics.TURN_SECONDS.labels("error").observe(elapsed)
            await self._record_failure(turn, exc, elapsed)
            log.warning(
                "turn failed",
                extra={**context, "error": type(exc).__name__, "detail": scrub(str(exc))[:300]},
            )
            raise
        elapsed = time.monotonic() - started
        metrics.TURNS.labels(plan.outcome).inc()
        metrics.TURN_SECONDS.labels(plan.outcome).observe(elapsed)
        log.info(
            "turn handled",
            extra={
                **context,
                "outcome": plan.outcome,
                "replies": len(plan.messages),
                "model": plan.llm.model if plan.llm else None,
                "latency_ms": round(elapsed * 1000, 1),
            },
        )

    # --- the steps ------------------------------------------------------------------------
    async def _run(self, turn: Turn, started: float) -> TurnPlan:
        if turn.messages:
            await history.record_inbound(self.pool, turn.messages)
        plan = await self._load_plan(turn.turn_id)
        receipt: list[asyncio.Task[None]] = []
        if plan is None:
            try:
                plan = await self._store_plan(turn.turn_id, await self._think(turn, receipt))
            except BaseException:
                for task in receipt:
                    task.cancel()
                raise
        await self._save_session(turn.customer_id, plan.state)
        await self._apply_effects(turn.customer_id, plan)
        await self._notify(turn, plan)
        conversation = await queries.get_conversation(self.pool, self.tenant_id, turn.customer_id)
        if self.receipts is not None:
            for task in receipt:
                await self.receipts.settle(task)
        if conversation is not None and plan.messages:
            await deliver_replies(
                self.pool,
                self.deliverer,
                recipient_of(conversation),
                turn.turn_id,
                plan.messages,
                fence=SendFence.for_turn(turn),
            )
        await history.record_turn(self.pool, self._turn_record(turn, plan, started))
        return plan

    async def _think(self, turn: Turn, receipt: list[asyncio.Task[None]]) -> TurnPlan:
        """The turn's plan; `receipt` gets the read receipt's task when one was started."""
        flow = self.flows.current()
        conversation = await queries.get_conversation(self.pool, self.tenant_id, turn.customer_id)
        session = await self.sessions.get(turn.customer_id)
        raw = session.data.get(SESSION_FLOW_KEY)
        stored = SessionState.from_dict(raw) if isinstance(raw, dict) else None
        state = reconcile(
            stored,
            opted_out=conversation is not None and conversation.opted_out,
            handed_off=conversation is not None and conversation.bot_silent,
        )
        chosen, notice = select_messages(flow, turn.messages)
        if not chosen:
            current = state or SessionState()
            quiet = current.opted_out or current.handed_off
            replies = (throttle_notice(),) if notice and not quiet else ()
            return TurnPlan(messages=replies, state=current, outcome="throttled")
        now = datetime.fromtimestamp(self.clock(), UTC)
        decision, http_notes = await self._decide(turn, flow, state, chosen, now)
        if self.receipts is not None:
            will_reply = bool(decision.messages) or decision.llm is not None
            task = self.receipts.start(turn.messages, reply_will_follow=will_reply)
            if task is not None:
                receipt.append(task)
        messages = list(decision.messages)
        at = len(messages) if decision.llm_at is None else decision.llm_at
        outcome: str = decision.outcome
        usage: LLMUsage | None = None
        llm_error: str | None = None
        notes: dict[str, Any] = {"http": http_notes} if http_notes else {}
        if decision.llm is not None:
            # history first, outside the fallback: a storage outage defers the turn, it is never
            # answered as an LLM failure
            past = await self._history(turn, decision.llm.history_messages)
            try:
                name = next((m.customer_name for m in turn.messages if m.customer_name), None)
                if name is None and conversation is not None:
                    name = conversation.name
                answer, usage, tier = await self._answer(turn, flow, decision.llm, past, name)
                messages[at:at] = render_llm_reply(flow, decision.state, answer)
                if tier is not None:
                    outcome, notes["answer_cache"] = "llm_cached", tier
            except Exception as exc:  # LLMUnavailable, or a bug: either way never silence
                if not isinstance(exc, LLMUnavailable):
                    log.exception("unexpected LLM client error", extra={"turn_id": turn.turn_id})
                messages[at:at] = render_llm_failure(flow, decision.state)
                outcome, llm_error = "llm_fallback", scrub(f"{type(exc).__name__}: {exc}")[:500]
        final = decision.state
        if notice and not (final.opted_out or final.handed_off):
            messages.append(throttle_notice())
        changes = [e.opted_out for e in decision.effects if isinstance(e, OptOutChanged)]
        notes.update(csat_notes(decision.effects))
        return TurnPlan(
            messages=tuple(messages),
            state=final,
            outcome=outcome,
            handoff=decision.handoff,
            opted_out=changes[-1] if changes else None,
            llm=usage,
            llm_error=llm_error,
            notes=notes,
        )

    async def _answer(
        self,
        turn: Turn,
        flow: Flow,
        request: LLMRequest,
        past: list[ChatMessage],
        customer_name: str | None,
    ) -> tuple[str, LLMUsage, Tier | None]:
        """The answer to the turn's free text: from the answer cache when it may and has it
        (then also the tier), else from the LLM (offered to the cache when it may keep it)."""
        digest = None
        if self.answers is not None and flow.llm is not None:
            reason = answers.uncacheable_reason(
                question=request.user_text,
                system_prompt_template=flow.llm.system_prompt,
                history=past,
                customer_name=customer_name,
            )
            if reason is not None:
                metrics.ANSWER_CACHE_LOOKUPS.labels("uncacheable").inc()
            else:
                digest = answers.lookup_key(
                    flow_sha256=self.flows.sha256,
                    chain=self.model_chain,
                    system_prompt=request.system_prompt,
                    history=past,
                    question=request.user_text,
                )
                found = await self._cached(digest)
                if found is not None:
                    return found
        answer, usage = await self._ask_llm(turn, request, past)
        if digest is not None and self.answers is not None:
            entry = answers.CachedAnswer(
                answer=answer,
                model=usage.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost=usage.cost,
            )
            await self.answers.offer(digest, entry, customer_name)
        return answer, usage, None

    async def _cached(self, digest: str) -> tuple[str, LLMUsage, Tier] | None:
        assert self.answers is not None
        started = time.monotonic()
        found = await self.answers.lookup(digest)
        if found is None:
            return None
        hit, tier = found
        usage = LLMUsage(
            model=hit.model,
            requested_model=hit.model,
            prompt_tokens=0,
            completion_tokens=0,
            cost=0.0,
            latency_seconds=time.monotonic() - started,
        )
        return hit.answer, usage, tier

    async def _decide(
        self,
        turn: Turn,
        flow: Flow,
        state: SessionState | None,
        chosen: list[InboundMessage],
        now: datetime,
    ) -> tuple[Decision, list[dict[str, object]]]:
        """`decide`, then each `HTTPCall` performed and continued (`continue_after_http`),
        folded into one decision: the messages in order, every effect, the last state, the
        first LLM request at its place."""
        decision = decide(flow, state, chosen, now)
        messages = list(decision.messages)
        effects = [e for e in decision.effects if not isinstance(e, HTTPCall)]
        llm_at = decision.llm_at
        notes: list[dict[str, object]] = []
        budget_end = time.monotonic() + self.http_budget_seconds
        while (call := decision.http) is not None:
            if len(notes) >= MAX_HTTP_CALLS_PER_TURN:
                log.warning(
                    "too many HTTP steps in one turn; sending the fallback",
                    extra={"turn_id": turn.turn_id, "step": call.step},
                )
                decision = abandon_http(flow, decision.state, decision.pending, now)
            else:
                key = f"{turn.turn_id}:{call.step}:{len(notes)}"
                left = max(0.1, budget_end - time.monotonic())
                result = (
                    await self.backend.call(call, idempotency_key=key, deadline_seconds=left)
                    if self.backend is not None
                    else HTTPResult("error", detail="no backend caller configured")
                )
                notes.append(
                    {"step": call.step, "outcome": result.outcome, "status": result.status}
                )
                decision = continue_after_http(
                    flow, decision.state, call, result, decision.pending, now
                )
            if (
                decision.llm is not None
                and llm_at is None
                and not any(isinstance(e, LLMRequest) for e in effects)
            ):
                llm_at = len(messages) + (decision.llm_at or 0)
            messages += decision.messages
            effects += [e for e in decision.effects if not isinstance(e, HTTPCall)]
        folded = Decision(
            messages=tuple(messages),
            state=decision.state,
            effects=tuple(effects),
            outcome=decision.outcome,
            llm_at=llm_at if any(isinstance(e, LLMRequest) for e in effects) else None,
        )
        return folded, notes

    async def _ask_llm(
        self, turn: Turn, request: LLMRequest, past: list[ChatMessage]
    ) -> tuple[str, LLMUsage]:
        if self.llm is None:
            raise LLMUnavailable([])  # no models configured: the flow's fallback applies
        result = await self.llm.answer(
            request.system_prompt,
            request.user_text,
            past,
            user=pseudonymous_user(self.tenant_id, turn.customer_id),
            deadline_seconds=self.llm_deadline_seconds,
        )
        return result.content, LLMUsage.of(result)

    async def _history(self, turn: Turn, limit: int) -> list[ChatMessage]:
        if limit <= 0:
            return []
        records = await queries.get_messages(
            self.pool, self.tenant_id, turn.customer_id, limit=limit + len(turn.messages) + 1
        )
        return chat_history(records, {m.message_id for m in turn.messages}, limit)

    async def _load_plan(self, turn_id: str) -> TurnPlan | None:
        raw = await self.redis.get(keyspace.turn_plan_key(self.tenant_id, turn_id))
        return None if raw is None else TurnPlan.from_json(raw)

    async def _store_plan(self, turn_id: str, plan: TurnPlan) -> TurnPlan:
        """Keep the plan for retries; if a concurrent attempt stored one first, follow it."""
        key = keyspace.turn_plan_key(self.tenant_id, turn_id)
        if await self.redis.set(key, plan.to_json(), nx=True, ex=PLAN_TTL_SECONDS):
            return plan
        return await self._load_plan(turn_id) or plan

    async def _save_session(self, customer_id: str, state: SessionState) -> None:
        doc = state.to_dict()

        def change(session: Session) -> None:
            session.data[SESSION_FLOW_KEY] = doc

        await self.sessions.update(customer_id, change)

    async def _apply_effects(self, customer_id: str, plan: TurnPlan) -> None:
        if plan.opted_out is not None:
            await control.change_opt_out(self.pool, self.tenant_id, customer_id, plan.opted_out)
        now = datetime.fromtimestamp(self.clock(), UTC)
        for survey_id, rating in plan.notes.get(NOTE_RATINGS, ()):
            await csat.record_rating(
                self.pool, self.tenant_id, customer_id, int(survey_id), int(rating), now=now
            )
        if plan.notes.get(NOTE_RESOLVED):
            config = self.flows.current().csat
            await csat.plan_after_flow_end(self.pool, self.tenant_id, customer_id, config, now=now)
        if plan.handoff is not None:
            await control.request_handoff(
                self.pool, self.tenant_id, customer_id, reason=plan.handoff.reason, source="bot"
            )

    async def _notify(self, turn: Turn, plan: TurnPlan) -> None:
        """Write the turn's handoff notification to the outbox (idempotent per (turn, event)),
        after the handoff was saved and before any reply is sent."""
        event = notification_event(turn, plan)
        if self.notify is None or event is None:
            return
        written = await enqueue_notification(
            self.pool,
            self.notify,
            tenant_id=self.tenant_id,
            customer_id=turn.customer_id,
            turn_id=turn.turn_id,
            event=event,
            reason=None if plan.handoff is None else plan.handoff.reason,
            out_of_hours=plan.handoff is not None and plan.handoff.out_of_hours,
        )
        if written:
            NOTIFICATIONS.labels(event, "enqueued").inc()

    # --- records --------------------------------------------------------------------------
    def _turn_record(self, turn: Turn, plan: TurnPlan, started: float) -> TurnRecord:
        llm = plan.llm
        return TurnRecord(
            tenant_id=self.tenant_id,
            customer_id=turn.customer_id,
            turn_id=turn.turn_id,
            attempt=turn.attempt,
            outcome=plan.outcome,
            model=llm.model if llm else None,
            prompt_tokens=llm.prompt_tokens if llm else None,
            completion_tokens=llm.completion_tokens if llm else None,
            cost=llm.cost if llm else None,
            latency_ms=(time.monotonic() - started) * 1000.0,
            error=plan.llm_error,
        )

    async def _record_failure(self, turn: Turn, exc: Exception, elapsed: float) -> None:
        record = TurnRecord(
            tenant_id=self.tenant_id,
            customer_id=turn.customer_id,
            turn_id=turn.turn_id,
            attempt=turn.attempt,
            outcome="error",
            latency_ms=elapsed * 1000.0,
            error=scrub(f"{type(exc).__name__}: {exc}")[:500],
        )
        try:
            await history.record_turn(self.pool, record)
        except Exception:
            log.warning("could not record a failed turn", extra={"turn_id": turn.turn_id})


def notification_event(turn: Turn, plan: TurnPlan) -> Event | None:
    """What the business hears about this turn: the bot handed off, or the customer wrote while
    a human owns the conversation (one event per turn, however many messages it coalesced)."""
    if plan.handoff is not None:
        return "handoff.requested"
    if turn.messages and plan.state.handed_off and plan.outcome in HANDED_OFF_OUTCOMES:
        return "handoff.customer_message"
    return None


HANDED_OFF_OUTCOMES = frozenset({"silent_handed_off", "throttled"})
"""Outcomes of a turn in a human-owned conversation that the agents hear about (a throttled
turn's messages are stored, just not answered)."""
