"""Simulator knobs: latency distributions and failure rules. Pure data plus parsing.

Latency specs: ``fixed:S``, ``uniform:A:B``, ``normal:MEAN:SD`` (seconds, never negative).
Fault rules: a mode, optionally restricted to one model and to the next `count` requests:

| mode          | response |
|---------------|----------|
| rate_limit    | 429 + ``Retry-After`` (``retry_after``, default 1) |
| payment       | 402 insufficient credits |
| bad_gateway   | 502 provider unavailable |
| unavailable   | 503 no provider available (+ ``Retry-After`` if ``retry_after`` set) |
| server_error  | 500 |
| bad_request   | 400 |
| error_in_200  | HTTP 200 whose body is an error object |
| finish_error  | HTTP 200, ``finish_reason: "error"``, empty content |
| empty         | HTTP 200, ``content: null`` ("no content generated") |
| hang          | no answer for ``hang_seconds`` (default 3600) or until the client hangs up |
| no_system     | 400 "system role not supported" when the request has a system message |

Consuming rules is the simulators' shared fault queue (`supportbot.simkit.faults.take_rule`).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from supportbot.simkit.faults import take_rule

Mode = Literal[
    "rate_limit",
    "payment",
    "bad_gateway",
    "unavailable",
    "server_error",
    "bad_request",
    "error_in_200",
    "finish_error",
    "empty",
    "hang",
    "no_system",
]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]

_ids = itertools.count(1)


class SpecError(ValueError):
    """A latency or fault specification could not be parsed."""


@dataclass(frozen=True)
class Latency:
    kind: Literal["fixed", "uniform", "normal"]
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> Latency:
        parts = spec.strip().split(":")
        try:
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            raise SpecError(f"bad latency {spec!r}: numbers expected") from None
        if any(n < 0 for n in numbers):
            raise SpecError(f"bad latency {spec!r}: negative value")
        if parts[0] == "fixed" and len(numbers) == 1:
            return cls("fixed", numbers[0])
        if parts[0] == "uniform" and len(numbers) == 2 and numbers[0] <= numbers[1]:
            return cls("uniform", numbers[0], numbers[1])
        if parts[0] == "normal" and len(numbers) == 2:
            return cls("normal", numbers[0], numbers[1])
        raise SpecError(f"bad latency {spec!r}: use fixed:S, uniform:MIN:MAX or normal:MEAN:SD")

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return max(0.0, rng.gauss(self.a, self.b))

    def __str__(self) -> str:
        return f"fixed:{self.a:g}" if self.kind == "fixed" else f"{self.kind}:{self.a:g}:{self.b:g}"


@dataclass
class FaultRule:
    mode: str
    model: str | None = None
    """Only requests for this model (a per-model outage); None = every model."""
    count: int | None = None
    """Apply to the next `count` matching requests, then disappear; None = until removed."""
    retry_after: float | None = None
    hang_seconds: float = 3600.0
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SpecError(f"unknown fault mode {self.mode!r}; modes: {', '.join(MODES)}")
        if self.count is not None and self.count < 1:
            raise SpecError("count must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {"mode", "model", "count", "retry_after", "hang_seconds"}
        unknown = set(data) - allowed
        if unknown:
            raise SpecError(f"unknown fault fields: {sorted(unknown)}")
        if "mode" not in data:
            raise SpecError("a fault needs a mode")
        return cls(**data)

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """CLI form: ``mode=unavailable,model=x/y,count=3,retry_after=2``."""
        values: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise SpecError(f"bad fault {spec!r}: use key=value pairs")
            key = key.strip()
            if key in ("count",):
                values[key] = int(value)
            elif key in ("retry_after", "hang_seconds"):
                values[key] = float(value)
            else:
                values[key] = value.strip()
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def take_fault(rules: list[FaultRule], model: str, *, has_system: bool = True) -> FaultRule | None:
    """The first rule for `model` (consuming one use of a counted rule). `no_system` rules only
    apply to requests that carry a system message."""
    return take_rule(
        rules,
        lambda rule: (
            (rule.mode != "no_system" or has_system) and (rule.model is None or rule.model == model)
        ),
    )
