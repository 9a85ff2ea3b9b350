"""Handoff notifications: tell the business, over a signed outbound webhook, when a conversation
is handed to a human and when its customer writes while a human owns it.

The engine writes an outbox row per (turn, event) (`store.enqueue`); the worker's sender
(`sender.HandoffNotifier`, a background task) POSTs due rows with retries and a delivery log.
Payload contract: ``schema.json``; headers and a receiver: docs/handoff-webhook.md.
"""

from supportbot.notify.config import NotifyConfig
from supportbot.notify.payload import EVENTS, Event, idempotency_key, schema
from supportbot.notify.sender import HandoffNotifier
from supportbot.notify.store import enqueue

__all__ = [
    "EVENTS",
    "Event",
    "HandoffNotifier",
    "NotifyConfig",
    "enqueue",
    "idempotency_key",
    "schema",
]
