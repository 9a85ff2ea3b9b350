"""The 24 h customer-service window and the per-turn send plan (pure).

Meta allows free-form messages (text, buttons, lists) only within 24 h of the customer's last
inbound message; outside it only approved templates (else async failure 131047). The bot's own
outbound messages do not reopen the window. `plan_replies` decides, before any HTTP call, what
each reply of a turn becomes:

- inside the window: sent as is (long texts split into 4,096-character parts);
- outside, with a configured template: the FIRST free-form reply is replaced by the template, the
  others are recorded as undeliverable (``outside_24h_window_template_sent``), so a customer gets
  one template per turn, not one per reply;
- outside, without a template: every free-form reply is undeliverable
  (``outside_24h_window_no_template``). Template replies are always sent.

Sequence numbers count planned parts, so they are stable across retries of the same turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91.limits import TEXT_MAX, WINDOW_SECONDS
from supportbot.msg91.payloads import split_text
from supportbot.settings import BotSettings

OUTSIDE_WINDOW_NO_TEMPLATE = "outside_24h_window_no_template"
OUTSIDE_WINDOW_TEMPLATE_SENT = "outside_24h_window_template_sent"

DEFAULT_MARGIN_SECONDS = 60.0
"""Close the window a little early so a send in flight does not land after it closed."""


def window_open(
    last_inbound_at: float | None,
    now: float,
    *,
    margin: float = DEFAULT_MARGIN_SECONDS,
    window: float = WINDOW_SECONDS,
) -> bool:
    """May free-form messages be sent at `now` (epoch seconds)? Never-inbound -> False."""
    if last_inbound_at is None:
        return False
    return now < last_inbound_at + window - margin


def fallback_template(settings: BotSettings) -> OutboundMessage | None:
    """The tenant's out-of-window template, or None when none is configured."""
    if not settings.out_of_window_template_name:
        return None
    return OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name=settings.out_of_window_template_name,
        template_language=settings.out_of_window_template_language,
        template_params=tuple(settings.out_of_window_template_params),
    )


@dataclass(frozen=True, slots=True)
class PlannedReply:
    seq: int
    index: int
    """Position of the engine's message this part belongs to (long texts become several parts)."""
    original: OutboundMessage
    """The reply the engine produced (one part of it, when a long text was split)."""
    message: OutboundMessage
    """What will be sent: `original`, or the fallback template replacing it."""
    skip_reason: str | None = None
    """Set when nothing is sent; the reply is recorded as undeliverable with this reason."""

    @property
    def substituted(self) -> bool:
        return self.message is not self.original and self.skip_reason is None


def _parts(message: OutboundMessage) -> list[OutboundMessage]:
    if message.kind is not OutboundKind.TEXT or len(message.text) <= TEXT_MAX:
        return [message]
    return [replace(message, text=part) for part in split_text(message.text, TEXT_MAX)]


def plan_replies(
    messages: Sequence[OutboundMessage],
    *,
    in_window: bool,
    fallback: OutboundMessage | None,
) -> list[PlannedReply]:
    parts = [(index, part) for index, m in enumerate(messages) for part in _parts(m)]
    plan: list[PlannedReply] = []
    template_used = False
    for seq, (index, part) in enumerate(parts):
        if in_window or part.kind is OutboundKind.TEMPLATE:
            plan.append(PlannedReply(seq, index, part, part))
        elif fallback is not None and not template_used:
            template_used = True
            plan.append(PlannedReply(seq, index, part, fallback))
        else:
            reason = OUTSIDE_WINDOW_TEMPLATE_SENT if template_used else OUTSIDE_WINDOW_NO_TEMPLATE
            plan.append(PlannedReply(seq, index, part, part, reason))
    return plan
