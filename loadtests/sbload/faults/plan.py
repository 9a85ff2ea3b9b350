"""What the fault suite runs: the faults, their length, and the load around them (pure).

A run plays `Load.customers` customers x `Load.messages` messages through the whole stack; the
fault starts `fault_at` seconds into the load, lasts `Fault.seconds`, is healed, and customers
keep writing for `after_heal_seconds`; then the driver waits at most `recover_seconds` for every
acknowledged message to be answered. `FULL` is issue 11's acceptance run, `SHORT` the ~5 minute
CI version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

KINDS = (
    "pg-down",
    "msg91-5xx",
    "nul-text",
    "worker-sigkill",
    "redis-sigkill",
    "idle-connections",
)


class PlanError(ValueError):
    """An unknown fault name or an invalid setting; the message says which."""


@dataclass(frozen=True)
class Fault:
    kind: str
    seconds: float = 0.0
    """pg-down / msg91-5xx / redis-sigkill: how long the service is down or failing;
    worker-sigkill: the span the kills are spread over; idle-connections: how long they are
    held; nul-text: unused (every message of the run may carry one)."""
    count: int = 0
    """worker-sigkill: SIGKILLs; idle-connections: connections opened; nul-text: the percentage
    of messages carrying U+0000 and a lone surrogate."""
    workers: int = 1
    """`supportbot worker` processes."""

    @property
    def label(self) -> str:
        """The row's name in the results table."""
        if self.kind == "worker-sigkill":
            return f"worker-sigkill x{self.count}"
        if self.kind == "idle-connections":
            return f"idle-connections {self.count:,}"
        if self.kind == "nul-text":
            return f"nul-text {self.count} %"
        return f"{self.kind} {self.seconds:g} s"

    @property
    def slug(self) -> str:
        """The label as a file name."""
        return self.label.replace(" %", "pct").replace(",", "").replace(" ", "-")

    @property
    def duration(self) -> str:
        """How long the fault lasted, for the table."""
        if self.kind == "nul-text":
            return "whole load"
        if self.kind == "worker-sigkill":
            return f"{self.count} kills over {self.seconds:g} s ({self.workers} workers)"
        if self.kind == "redis-sigkill":
            return f"down {self.seconds:g} s"
        return f"{self.seconds:g} s"

    @property
    def healed(self) -> bool:
        """Does the fault end at a moment (time to recover is measured from it)?"""
        return self.kind != "nul-text"


@dataclass(frozen=True)
class Load:
    customers: int
    messages: int
    """Per customer: the first (answered by the flow's welcome), then texts for the LLM."""
    duplicate_share: float = 0.05
    """Share of messages the 'provider' delivers twice (same message id, 0-2 s later)."""
    ramp_seconds: float = 8.0
    """Customers send their first message within this window."""
    fault_at: float = 12.0
    """Seconds after the load starts."""
    after_heal_seconds: float = 10.0
    """Customers' later messages are spread until this long after the heal."""
    reply_timeout_seconds: float = 20.0
    """A customer waits at most this long for an answer before writing again."""
    recover_seconds: float = 120.0
    """After the last message: at most this long for every acknowledged message's answer."""
    llm_latency: str = "uniform:0.3:1.5"
    webhook_attempts: int = 8
    """POSTs per delivery while the webhook answers 5xx or the connection fails, 0.25 s backoff
    doubling up to 4 s (~20 s in all), as a provider retries; then the message is 'unacked'."""
    seed: int = 11

    def window(self, fault: Fault) -> float:
        """Seconds over which the customers' messages are spread."""
        return self.fault_at + fault.seconds + self.after_heal_seconds


@dataclass(frozen=True)
class Suite:
    name: str
    load: Load
    faults: tuple[Fault, ...]


FULL = Suite(
    "full",
    Load(customers=300, messages=4, recover_seconds=240.0),
    (
        Fault("pg-down", 3),
        Fault("pg-down", 10),
        Fault("pg-down", 60),
        Fault("msg91-5xx", 120),
        Fault("nul-text", count=20),
        Fault("worker-sigkill", seconds=100, count=20, workers=2),
        Fault("redis-sigkill", 3),
        Fault("idle-connections", 30, count=1000),
    ),
)

SHORT = Suite(
    "short",
    Load(
        customers=40,
        messages=4,
        ramp_seconds=4,
        fault_at=6,
        after_heal_seconds=6,
        recover_seconds=90.0,
    ),
    (
        Fault("pg-down", 10),
        Fault("msg91-5xx", 20),
        Fault("nul-text", count=20),
        Fault("worker-sigkill", seconds=12, count=3, workers=2),
        Fault("redis-sigkill", 3),
        Fault("idle-connections", 15, count=1000),
    ),
)


def select(suite: Suite, kinds: str | None, customers: int | None = None) -> Suite:
    """The suite restricted to the comma-separated fault kinds (all when None), and with
    another customer count when given."""
    out = suite
    if kinds:
        wanted = [k.strip() for k in kinds.split(",") if k.strip()]
        unknown = sorted(set(wanted) - set(KINDS))
        if unknown:
            raise PlanError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        out = replace(out, faults=tuple(f for f in suite.faults if f.kind in wanted))
    if customers is not None:
        if not 1 <= customers <= 5000:
            raise PlanError("customers: 1..5000")
        out = replace(out, load=replace(out.load, customers=customers))
    return out
