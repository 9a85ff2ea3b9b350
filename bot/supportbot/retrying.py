"""Waiting before a retry, in one place (pure; the random source is passed in).

- `parse_retry_after`: a Retry-After header (delta-seconds or HTTP-date) as seconds; used by the
  MSG91 client and the OpenRouter client.
- `exponential_ceiling`: ``min(cap, base * multiplier**exponent)``, the growth every backoff of
  ours shares.
- `full_jitter` (uniform in [0, ceiling]: MSG91 sends) and `equal_jitter` (half fixed, half
  random: deferred turns) spread a fleet's retries out.

Where a backoff deliberately has no jitter it says so at its call site (`queueing.drain.
retry_backoff`, the worker's dequeue loop).
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), else None.

    A date in the past gives 0; `now` is the epoch time the date is measured from."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def exponential_ceiling(exponent: int, base: float, cap: float, multiplier: float = 2.0) -> float:
    """``min(cap, base * multiplier**exponent)``: the longest wait after `exponent` doublings."""
    return min(cap, base * multiplier**exponent)


def full_jitter(ceiling: float, rng: random.Random) -> float:
    """Uniform in [0, ceiling]: replicas hit by the same failure retry at scattered times."""
    return rng.uniform(0.0, ceiling)


def equal_jitter(ceiling: float, rng: random.Random) -> float:
    """Half of `ceiling` fixed plus up to half at random: scattered, yet never shorter than half
    nor longer than `ceiling`."""
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
