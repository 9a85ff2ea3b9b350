"""What one turn decided, and the pure steps that lead there.

A `TurnPlan` is the result of the thinking part of a turn (flow decision + LLM answer): the
replies in order, the new session state, the durable effects (handoff, opt-out) and the LLM
usage. The engine stores it in Redis under the turn id before anything is sent, so a retried turn
carries out the SAME plan (the same replies, no second LLM call), and delivery stays exactly once
per (turn id, reply seq) even when the LLM would answer differently the second time.

Pure helpers: which messages the flow sees (`select_messages`: throttled ones are held back
except opt-out/opt-in keywords, which must always be honoured), how durable PostgreSQL state
overrides the Redis session (`reconcile`), and the LLM history (`chat_history`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from supportbot.engine.codec import outbound_from_dict, outbound_to_dict
from supportbot.flow import Flow, HandoffRequested, SessionState, normalise
from supportbot.llm import ChatMessage, LLMResult
from supportbot.messages import (
    DeliveryState,
    InboundMessage,
    MessageKind,
    OutboundKind,
    OutboundMessage,
)
from supportbot.storage.models import Direction, MessageRecord

THROTTLE_NOTICE = "You are sending messages very quickly. Please wait a minute, then try again."
"""Sent once when the webhook flags a customer as over the per-minute limit."""


@dataclass(frozen=True)
class LLMUsage:
    model: str
    requested_model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_seconds: float
    fallback_used: bool = False

    @classmethod
    def of(cls, result: LLMResult) -> LLMUsage:
        return cls(
            model=result.model,
            requested_model=result.requested_model,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            cost=result.usage.cost,
            latency_seconds=result.latency_seconds,
            fallback_used=result.fallback_used,
        )


@dataclass(frozen=True)
class TurnPlan:
    messages: tuple[OutboundMessage, ...]
    state: SessionState
    outcome: str
    """Metrics label and turn-record outcome: the flow's outcome, 'llm_fallback', 'throttled'."""
    handoff: HandoffRequested | None = None
    opted_out: bool | None = None
    """The last opt-out change of the turn (True = STOP, False = START), None = no change."""
    llm: LLMUsage | None = None
    llm_error: str | None = None
    """Why the LLM gave no answer (the fallback message was sent instead)."""
    notes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "messages": [outbound_to_dict(m) for m in self.messages],
            "state": self.state.to_dict(),
            "outcome": self.outcome,
            "handoff": None
            if self.handoff is None
            else {"reason": self.handoff.reason, "out_of_hours": self.handoff.out_of_hours},
            "opted_out": self.opted_out,
            "llm": None if self.llm is None else asdict(self.llm),
            "llm_error": self.llm_error,
            "notes": self.notes,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> TurnPlan:
        doc = json.loads(data)
        handoff = doc.get("handoff")
        llm = doc.get("llm")
        return cls(
            messages=tuple(outbound_from_dict(m) for m in doc["messages"]),
            state=SessionState.from_dict(doc["state"]),
            outcome=str(doc["outcome"]),
            handoff=None if handoff is None else HandoffRequested(**handoff),
            opted_out=doc.get("opted_out"),
            llm=None if llm is None else LLMUsage(**llm),
            llm_error=doc.get("llm_error"),
            notes=dict(doc.get("notes") or {}),
        )


def _keyword_message(flow: Flow, message: InboundMessage) -> bool:
    """Is this a whole-message opt-out / opt-in keyword (honoured even when throttled)?"""
    if message.kind is not MessageKind.TEXT or not message.text:
        return False
    words = {normalise(k) for k in (*flow.opt_out.keywords, *flow.opt_out.opt_in_keywords)}
    return normalise(message.text) in words


def select_messages(
    flow: Flow, messages: Sequence[InboundMessage]
) -> tuple[list[InboundMessage], bool]:
    """(messages the flow decides on, whether to send the throttle notice).

    Throttled messages are stored but not answered (and never reach the LLM); an opt-out or
    opt-in keyword is always passed on, throttled or not.
    """
    chosen = [m for m in messages if not m.throttled or _keyword_message(flow, m)]
    notice = any(m.throttle_notice for m in messages)
    return chosen, notice


def reconcile(
    state: SessionState | None, *, opted_out: bool, handed_off: bool
) -> SessionState | None:
    """The session state with PostgreSQL's durable flags applied (PostgreSQL wins).

    None stays None when nothing durable is set (a new session: the flow greets). A session that
    was handed off but is no longer (an agent handed it back) restarts from rest.
    """
    if state is None:
        if not (opted_out or handed_off):
            return None
        return SessionState(opted_out=opted_out, handed_off=handed_off)
    result = state.handed_back() if state.handed_off and not handed_off else state.copy()
    result.handed_off = handed_off
    result.opted_out = opted_out
    return result


def chat_history(
    records: Sequence[MessageRecord], exclude_ids: Collection[str], limit: int
) -> list[ChatMessage]:
    """The last `limit` text messages before this turn: customer -> user, bot/agent ->
    assistant. Templates and failed sends are left out (the customer never read them)."""
    if limit <= 0:
        return []
    out: list[ChatMessage] = []
    for record in records:
        if not record.text or not record.text.strip():
            continue
        if record.direction is Direction.INBOUND:
            if record.provider_message_id in exclude_ids:
                continue
            out.append({"role": "user", "content": record.text})
        elif record.kind != OutboundKind.TEMPLATE.value and (
            record.delivery_state is not DeliveryState.FAILED
        ):
            out.append({"role": "assistant", "content": record.text})
    return out[-limit:]


def throttle_notice() -> OutboundMessage:
    return OutboundMessage(kind=OutboundKind.TEXT, text=THROTTLE_NOTICE)
