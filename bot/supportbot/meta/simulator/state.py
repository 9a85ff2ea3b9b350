"""The Meta simulator's memory: send requests, accepted messages, read receipts / typing
indicators, emitted webhooks, faults, and each customer's last inbound (the 24 h window).

In-process and bounded (`MetaSimConfig.max_records`). One global sequence numbers requests,
receipts and webhooks alike, so tests can assert order ("typing shown before the reply"). The
store's common part is `supportbot.simkit.recording.RecordingState`.
"""

from __future__ import annotations

import base64
import secrets
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from supportbot.meta import limits
from supportbot.meta.simulator.config import FaultRule, MetaSimConfig
from supportbot.simkit.recording import RecordingState, new_wamid

__all__ = [
    "Emitted",
    "Receipt",
    "Recorded",
    "SimMessage",
    "SimState",
    "new_fbtrace_id",
    "new_wamid",
]


@dataclass
class Recorded:
    """One request to the messages endpoint, whatever its fate."""

    seq: int
    received_at: float
    mono: float
    path: str
    phone_number_id: str
    endpoint: str
    """message | read (a read receipt, with or without typing indicator)"""
    auth: str
    """Bearer token check: valid | invalid | missing | expired | open"""
    body: Any
    status_code: int = 0
    response: Any = None
    outcome: str = ""
    """accepted | rejected | unauthorized | fault"""
    to: str | None = None
    kind: str | None = None
    message_id: str | None = None
    error_code: int | None = None
    error: str | None = None
    x_request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SimMessage:
    """An accepted outbound message."""

    message_id: str
    phone_number_id: str
    to: str
    kind: str
    accepted_at: float
    seq: int
    failure: int | None = None
    """Graph code it will fail with asynchronously (131047 outside the window)."""
    statuses: list[str] = field(default_factory=list)


@dataclass
class Receipt:
    """An accepted read receipt (``status: read``), with or without a typing indicator."""

    seq: int
    at: float
    mono: float
    phone_number_id: str
    message_id: str
    customer: str
    typing: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Emitted:
    """One webhook POST to the bot (retries folded into `attempts`)."""

    seq: int
    at: float
    kind: str
    """inbound | status"""
    url: str | None
    phone_number_id: str
    payload: dict[str, Any]
    raw: str
    """The exact body bytes (UTF-8) that were signed and sent."""
    signature: str | None
    message_id: str | None = None
    status: str | None = None
    http_status: int | None = None
    response: str | None = None
    error: str | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_fbtrace_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("=")


class SimState(RecordingState[MetaSimConfig, Recorded, SimMessage, Emitted, FaultRule]):
    window_seconds = limits.WINDOW_SECONDS

    def reset(self) -> None:
        super().reset()
        self.receipts: deque[Receipt] = deque(maxlen=self.config.max_records)
        self.inbound_ids: OrderedDict[str, tuple[str, str]] = OrderedDict()
        """Inbound wamid -> (phone_number_id, customer): what a read receipt may name."""
        self.expired_tokens: set[str] = set()

    @staticmethod
    def rule_endpoint(rule: FaultRule) -> str | None:
        return rule.endpoint

    def note_inbound(self, phone_number_id: str, customer: str, wamid: str, ts: float) -> None:
        key = (phone_number_id, customer)
        self.last_inbound[key] = max(ts, self.last_inbound.get(key, ts))
        self.inbound_ids[wamid] = key
        while len(self.inbound_ids) > self.config.max_records:
            self.inbound_ids.popitem(last=False)

    def query(
        self,
        *,
        to: str | None = None,
        outcome: str | None = None,
        endpoint: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Recorded]:
        return self.select(
            lambda r: to is None or r.to == to,
            outcome=outcome,
            endpoint=endpoint,
            after=after,
            limit=limit,
        )

    def receipt_view(self, receipt: Receipt) -> dict[str, Any]:
        """A receipt with the first accepted message to the same customer after it (the reply
        it announced), and whether that reply came while the indicator showed (≤ 25 s)."""
        reply = next(
            (
                m
                for m in self.messages.values()
                if m.seq > receipt.seq
                and m.to == receipt.customer
                and m.phone_number_id == receipt.phone_number_id
            ),
            None,
        )
        doc = receipt.as_dict()
        doc["reply_message_id"] = reply.message_id if reply else None
        doc["reply_seq"] = reply.seq if reply else None
        doc["reply_within_indicator"] = bool(
            reply and reply.accepted_at - receipt.at <= limits.TYPING_INDICATOR_SECONDS
        )
        return doc

    def more_stats(self) -> dict[str, Any]:
        return {
            "receipts": len(self.receipts),
            "typing_indicators": sum(1 for r in self.receipts if r.typing),
            "webhooks": len(self.emitted),
        }
