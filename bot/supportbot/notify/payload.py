"""The notification body (pure): what the business receives, and its JSON Schema.

One body per event of a turn:

- ``handoff.requested``: the bot handed the conversation to a human (keyword, button, flow step,
  intent, the 'talk to a human' offer after an LLM failure, a failed question);
- ``handoff.customer_message``: the customer wrote while a human owns the conversation (one per
  turn: the turn's coalesced messages are the newest entries of ``messages``).

The customer's phone is masked (``91******3210``) unless the tenant set
`SUPPORTBOT_HANDOFF_WEBHOOK_INCLUDE_PHONE`. ``schema.json`` (beside this module) is the contract;
a test validates emitted bodies against it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from supportbot.observability import mask_phone

SCHEMA_VERSION = 1
EVENTS = ("handoff.requested", "handoff.customer_message")
Event = Literal["handoff.requested", "handoff.customer_message"]


def idempotency_key(tenant_id: str, turn_id: str, event: str) -> str:
    """Stable per (tenant, turn, event): a retried turn makes the same key (one outbox row), and
    the receiver sees it in `Idempotency-Key` on every attempt."""
    digest = hashlib.sha256(f"{tenant_id}\n{turn_id}\n{event}".encode()).hexdigest()
    return f"hn_{digest[:40]}"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ConversationView:
    """What the payload says about the conversation (read from its row)."""

    id: int
    customer_id: str
    phone: str | None
    name: str | None
    handoff_state: str
    handoff_agent: str | None
    handoff_reason: str | None
    handoff_since: datetime | None


@dataclass(frozen=True)
class MessageView:
    direction: str
    author: str
    kind: str
    text: str | None
    at: datetime


def build_payload(
    *,
    key: str,
    event: Event,
    tenant_id: str,
    turn_id: str,
    conversation: ConversationView,
    reason: str | None,
    out_of_hours: bool,
    messages: Sequence[MessageView],
    include_phone: bool,
    created_at: datetime,
) -> dict[str, Any]:
    phone = conversation.phone or conversation.customer_id
    return {
        "schema_version": SCHEMA_VERSION,
        "id": key,
        "event": event,
        "created_at": iso(created_at),
        "tenant": tenant_id,
        "turn_id": turn_id,
        "conversation": {
            "id": conversation.id,
            "state": conversation.handoff_state,
            "agent": conversation.handoff_agent,
            "handoff_since": None
            if conversation.handoff_since is None
            else iso(conversation.handoff_since),
        },
        "customer": {
            "phone": phone if include_phone else mask_phone(phone),
            "phone_masked": not include_phone,
            "name": conversation.name,
        },
        "reason": reason,
        "out_of_hours": out_of_hours,
        "messages": [
            {
                "direction": m.direction,
                "author": m.author,
                "kind": m.kind,
                "text": m.text,
                "at": iso(m.at),
            }
            for m in messages
        ],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every body satisfies (`schema.json`)."""
    text = (resources.files("supportbot.notify") / "schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
