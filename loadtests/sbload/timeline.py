"""Per-second series of one run: webhook acks, end-to-end reply latencies, process samples.

Raw observations are kept per one-second bucket (the runs are bounded, so this stays small);
`summary` and `series` turn them into percentiles and rates for the report. Pure.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def stats(values: Sequence[float]) -> dict[str, float]:
    """count, mean, p50/p95/p99, max of `values` (seconds in, milliseconds out)."""
    if not values:
        return {"count": 0}
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "mean_ms": sum(ms) / len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
    }


@dataclass
class Timeline:
    started: float = field(default_factory=time.time)
    acks: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    ack_status: Counter[str] = field(default_factory=Counter)
    e2e: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    samples: list[dict[str, Any]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def second(self, at: float) -> int:
        return int(at - self.started)

    def ack(self, at: float, latency: float, status: str) -> None:
        self.acks[self.second(at)].append(latency)
        self.ack_status[status] += 1

    def reply(self, at: float, latency: float) -> None:
        self.e2e[self.second(at)].append(latency)

    def error(self, message: str) -> None:
        self.counters["errors"] += 1
        if len(self.errors) < 20:
            self.errors.append(message)

    def all_acks(self, start: float = 0, end: float = math.inf) -> list[float]:
        return [v for s, vs in self.acks.items() if start <= s < end for v in vs]

    def all_e2e(self) -> list[float]:
        return [v for vs in self.e2e.values() for v in vs]

    def series(self) -> dict[str, list[Any]]:
        """Per-second rows for plots: ack rate and percentiles, e2e percentiles, samples."""
        last = max([*self.acks, *self.e2e, 0]) + 1
        rows: dict[str, list[Any]] = defaultdict(list)
        for s in range(last):
            acks, e2e = self.acks.get(s, []), self.e2e.get(s, [])
            rows["t"].append(s)
            rows["ack_rate"].append(len(acks))
            rows["reply_rate"].append(len(e2e))
            for q in (50, 95, 99):
                rows[f"ack_p{q}_ms"].append(percentile(acks, q) * 1000)
                rows[f"e2e_p{q}_s"].append(percentile(e2e, q))
        return dict(rows)

    def summary(self) -> dict[str, Any]:
        seconds = max(1.0, time.time() - self.started)
        acked = sum(len(v) for v in self.acks.values())
        return {
            "seconds": seconds,
            "requests": acked,
            "ack": stats(self.all_acks()),
            "ack_status": dict(self.ack_status),
            "e2e": stats(self.all_e2e()),
            "counters": dict(self.counters),
            "errors": list(self.errors),
        }
