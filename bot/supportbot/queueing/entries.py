"""Inbox entries: one flag character followed by the message's JSON (pure functions).

The ingest script decides the throttle flag atomically and prepends it, so the webhook never has
to serialise the message twice: ``-`` normal, ``T`` throttled, ``N`` throttled + notify once.
"""

from __future__ import annotations

import dataclasses

from supportbot.messages import InboundMessage

FLAG_NORMAL = "-"
FLAG_THROTTLED = "T"
FLAG_NOTIFY = "N"


class EntryError(ValueError):
    """An inbox entry is not a flag character followed by an InboundMessage JSON."""


def encode_body(message: InboundMessage) -> str:
    """The entry without its flag (the ingest script adds it)."""
    return message.to_json()


def decode_entry(entry: bytes | str) -> InboundMessage:
    text = entry.decode() if isinstance(entry, bytes) else entry
    if not text or text[0] not in (FLAG_NORMAL, FLAG_THROTTLED, FLAG_NOTIFY):
        raise EntryError("inbox entry has no flag character")
    try:
        message = InboundMessage.from_json(text[1:])
    except (ValueError, TypeError, KeyError) as exc:
        raise EntryError(f"inbox entry is not a message: {exc}") from None
    flag = text[0]
    if flag == FLAG_NORMAL:
        return message
    return dataclasses.replace(message, throttled=True, throttle_notice=flag == FLAG_NOTIFY)
