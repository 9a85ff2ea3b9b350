"""Durable conversation control shared by the engine and the agent API: who answers (bot or
human) and whether the customer opted out. PostgreSQL is the source of truth; the Redis session
follows it at the next turn (`plan.reconcile`). Each change is counted in the metrics."""

from __future__ import annotations

import logging

from supportbot.engine import metrics
from supportbot.storage import handoff as store, queries
from supportbot.storage.db import Pool
from supportbot.storage.models import Conversation, HandoffState

log = logging.getLogger(__name__)


async def request_handoff(
    pool: Pool,
    tenant_id: str,
    customer_id: str,
    *,
    reason: str,
    source: str,
    agent: str | None = None,
) -> Conversation | None:
    """Hand the conversation to a human: PENDING (the bot asked for one) or HUMAN (an agent
    took it). Counted only when the owner changes, so repeating it (a retried turn) is harmless.
    None when the conversation does not exist."""
    state = HandoffState.HUMAN if agent else HandoffState.PENDING
    before = await queries.get_conversation(pool, tenant_id, customer_id)
    if agent is None and before is not None and before.bot_silent:
        return before  # the bot never takes a conversation back from an agent (retried turns)
    conversation = await store.set_handoff(
        pool, tenant_id, customer_id, state, agent=agent, reason=reason
    )
    changed = before is not None and (before.handoff_state, before.handoff_agent) != (state, agent)
    if conversation is not None and changed:
        # free-text reasons (agent API) must not become label values
        metrics.HANDOFFS.labels(reason if source == "bot" else source, source).inc()
        log.info(
            "conversation handed to a human",
            extra={"state": state.value, "reason": reason, "source": source, "agent": agent},
        )
    return conversation


async def hand_back(pool: Pool, tenant_id: str, customer_id: str) -> Conversation | None:
    """Give the conversation back to the bot (the next customer message is answered again)."""
    before = await queries.get_conversation(pool, tenant_id, customer_id)
    conversation = await store.clear_handoff(pool, tenant_id, customer_id)
    if conversation is not None and before is not None and before.bot_silent:
        metrics.HANDBACKS.inc()
        log.info("conversation handed back to the bot")
    return conversation


async def change_opt_out(
    pool: Pool, tenant_id: str, customer_id: str, opted_out: bool
) -> Conversation:
    before = await queries.get_conversation(pool, tenant_id, customer_id)
    conversation = await store.set_opt_out(pool, tenant_id, customer_id, opted_out)
    if before is None or before.opted_out != opted_out:
        metrics.OPT_OUTS.labels("opt_out" if opted_out else "opt_in").inc()
        log.info("customer opted %s", "out" if opted_out else "in")
    return conversation
