"""When a turn starts, which inbound message to mark read and whether to show the typing
indicator (pure; shared/reference/msg91-whatsapp.md §2.5).

Meta: a read receipt marks that message and earlier ones read; the typing indicator shows until
our reply or 25 s; "only display a typing indicator if you are going to respond". So the plan is
the turn's newest message that carries a real wamid, with typing only when a reply will follow;
when none will (a human owns the conversation, every message was throttled...), nothing is sent
at all, so the customer never sees the bot "read" or "type" without an answer. Deciding whether a
reply will follow is the engine's (it knows the plan); this only turns that answer into a call of
`MetaClient.mark_read`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supportbot.messages import InboundMessage

WAMID_PREFIX = "wamid."


@dataclass(frozen=True, slots=True)
class ReadPlan:
    message_id: str
    typing: bool


def read_plan(messages: Sequence[InboundMessage], *, reply_will_follow: bool) -> ReadPlan | None:
    """The `mark_read` call for a turn of `messages` (arrival order), or None for no call."""
    if not reply_will_follow:
        return None
    for message in reversed(messages):
        if message.message_id.startswith(WAMID_PREFIX):
            return ReadPlan(message.message_id, typing=True)
    return None
