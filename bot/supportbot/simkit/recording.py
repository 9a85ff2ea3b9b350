"""The in-memory store of a simulator process: one sequence numbering everything it records,
the recorded send requests (exact bodies), accepted messages, emitted webhooks, the fault-rule
queue and each customer's last inbound (the 24 h window); bounded by the config's
``max_records`` and reset to the start configuration by ``POST /_sim/reset``.

Each simulator subclasses `RecordingState` with its own record, message, webhook and fault-rule
types (their fields are its recorded shapes) and adds what only it keeps.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from supportbot.simkit.faults import CountedRule, take_rule


class SimConfig(Protocol):
    """What the store needs of a simulator's pydantic config model."""

    @property
    def max_records(self) -> int: ...

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...


class Record(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def outcome(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


class Message(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def message_id(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=SimConfig)
RecordT = TypeVar("RecordT", bound=Record)
MessageT = TypeVar("MessageT", bound=Message)
EmittedT = TypeVar("EmittedT")
RuleT = TypeVar("RuleT", bound=CountedRule)


def new_wamid() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(27)).decode().rstrip("=")
    return f"wamid.HBgM{raw}"


class RecordingState(Generic[ConfigT, RecordT, MessageT, EmittedT, RuleT]):
    window_seconds: ClassVar[float] = 24 * 3600
    """How long after a customer's last inbound free-form sends are allowed."""

    def __init__(self, config: ConfigT) -> None:
        self.initial = config.model_copy(deep=True)
        self.reset()

    def reset(self) -> None:
        """Forget everything and return to the start configuration."""
        self.config = self.initial.model_copy(deep=True)
        self._seq = itertools.count(1)
        self.records: deque[RecordT] = deque(maxlen=self.config.max_records)
        self.messages: OrderedDict[str, MessageT] = OrderedDict()
        self.emitted: deque[EmittedT] = deque(maxlen=self.config.max_records)
        self.faults: deque[RuleT] = deque()
        self.last_inbound: dict[tuple[str, str], float] = {}

    def next_seq(self) -> int:
        return next(self._seq)

    @staticmethod
    def rule_endpoint(rule: RuleT) -> str | None:
        """The endpoint a fault rule is limited to (None = any); each simulator names it."""
        raise NotImplementedError

    def take_fault(self, endpoint: str) -> RuleT | None:
        return take_rule(self.faults, lambda rule: self.rule_endpoint(rule) in (None, endpoint))

    def add_message(self, message: MessageT) -> None:
        self.messages[message.message_id] = message
        while len(self.messages) > self.config.max_records:
            _, old = self.messages.popitem(last=False)
            self.forget(old)

    def forget(self, message: MessageT) -> None:
        """`message` was dropped to keep within ``max_records`` (drop what points at it)."""

    def find_message(self, message_id: str) -> MessageT | None:
        return self.messages.get(message_id)

    def window_open(self, number: str, customer: str, now: float) -> bool:
        last = self.last_inbound.get((number, customer))
        return last is not None and now < last + self.window_seconds

    def set_last_inbound(self, number: str, customer: str, at: float | None) -> None:
        """`customer`'s last inbound to `number` is `at` (None: none, the window is closed)."""
        if at is None:
            self.last_inbound.pop((number, customer), None)
        else:
            self.last_inbound[(number, customer)] = at

    def select(
        self,
        match: Callable[[RecordT], bool],
        *,
        outcome: str | None = None,
        endpoint: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[RecordT]:
        """Recorded requests after sequence `after` that `match` and the filters accept."""
        found = [
            r
            for r in self.records
            if r.seq > after
            and match(r)
            and (outcome is None or r.outcome == outcome)
            and (endpoint is None or r.endpoint == endpoint)
        ]
        return found[:limit] if limit is not None else found

    def more_stats(self) -> dict[str, Any]:
        """The simulator's own counters, between ``messages`` and ``pending_faults``."""
        return {}

    def stats(self) -> dict[str, Any]:
        outcomes: dict[str, int] = {}
        for r in self.records:
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        return {
            "requests": len(self.records),
            "outcomes": outcomes,
            "messages": len(self.messages),
            **self.more_stats(),
            "pending_faults": sum(r.count or 0 for r in self.faults),
            "at": time.time(),
        }
