"""The simulator's memory: recorded send requests, accepted messages, emitted webhooks, faults.

Everything is in-process and bounded (`SimConfig.max_records`); one simulator process is one
"MSG91 account". Records keep the exact request bodies so tests can assert them. The store's
common part is `supportbot.simkit.recording.RecordingState`.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from supportbot.msg91.simulator.config import FaultRule, SimConfig
from supportbot.simkit.recording import RecordingState, new_wamid

__all__ = ["Emitted", "Recorded", "SimMessage", "SimState", "new_request_id", "new_wamid"]


@dataclass
class Recorded:
    """One request to the send API, whatever its fate."""

    seq: int
    received_at: float
    mono: float
    """time.monotonic() at arrival: for spacing/rate assertions."""
    method: str
    path: str
    endpoint: str
    """session | bulk | activation"""
    authkey: str
    """valid | invalid | missing | open (no keys configured)"""
    body: Any
    status_code: int = 0
    response: Any = None
    outcome: str = ""
    """accepted | rejected | unauthorized | fault | rate_limited"""
    integrated_number: str | None = None
    to: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    request_id: str | None = None
    error: str | None = None
    x_request_id: str | None = None
    """The caller's ``X-Request-ID`` header (the bot's correlation id), if sent."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SimMessage:
    """An accepted outbound message (one per recipient)."""

    message_id: str
    request_id: str
    integrated_number: str
    to: str
    kind: str
    template_name: str | None
    accepted_at: float
    failure: tuple[str, str] | None = None
    """(Meta code, reason) the message will fail with asynchronously (send ≠ delivered)."""
    statuses: list[str] = field(default_factory=list)
    """Statuses emitted so far, in emission order (duplicates included)."""


@dataclass
class Emitted:
    """One webhook POST to the bot (with retries folded into `attempts`)."""

    seq: int
    at: float
    kind: str
    """inbound | status"""
    url: str | None
    integrated_number: str
    payload: dict[str, Any]
    message_id: str | None = None
    status: str | None = None
    http_status: int | None = None
    response: str | None = None
    error: str | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_request_id() -> str:
    return secrets.token_hex(12)


class SimState(RecordingState[SimConfig, Recorded, SimMessage, Emitted, FaultRule]):
    def __init__(self, config: SimConfig, seed: int | None = None) -> None:
        self.seed = seed
        super().__init__(config)

    def reset(self) -> None:
        super().reset()
        self.rng = random.Random(self.seed)  # noqa: S311 - fault injection, not crypto
        self.by_request: dict[str, str] = {}
        self.sends: dict[str, deque[float]] = {}

    @staticmethod
    def rule_endpoint(rule: FaultRule) -> str | None:
        return rule.path

    def over_rate(self, number: str, now: float) -> bool:
        """True when one more accepted send would break `max_per_window` for `number`."""
        limit = self.config.max_per_window
        if limit is None:
            return False
        window = self.sends.setdefault(number, deque())
        while window and window[0] <= now - self.config.rate_window_seconds:
            window.popleft()
        return len(window) >= limit

    def note_send(self, number: str, now: float) -> None:
        self.sends.setdefault(number, deque()).append(now)

    def add_message(self, message: SimMessage) -> None:
        self.by_request[message.request_id] = message.message_id
        super().add_message(message)

    def forget(self, message: SimMessage) -> None:
        self.by_request.pop(message.request_id, None)

    def find_message(self, message_id: str) -> SimMessage | None:
        """By wamid or by MSG91 request id."""
        found = self.messages.get(message_id)
        if found is None and message_id in self.by_request:
            found = self.messages.get(self.by_request[message_id])
        return found

    def query(
        self,
        *,
        to: str | None = None,
        outcome: str | None = None,
        integrated_number: str | None = None,
        endpoint: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Recorded]:
        return self.select(
            lambda r: (
                (to is None or to in r.to)
                and (integrated_number is None or r.integrated_number == integrated_number)
            ),
            outcome=outcome,
            endpoint=endpoint,
            after=after,
            limit=limit,
        )

    def more_stats(self) -> dict[str, Any]:
        return {
            "webhooks": len(self.emitted),
            "webhook_failures": sum(
                1 for e in self.emitted if e.error or (e.http_status or 0) >= 300
            ),
        }
