"""Retry-After parsing and the backoff pieces every retry of the bot is built from."""

from __future__ import annotations

import random

import pytest

from supportbot.retrying import equal_jitter, exponential_ceiling, full_jitter, parse_retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, 1445412480.0) == seconds


def test_exponential_ceiling_doubles_from_base_up_to_cap() -> None:
    assert [exponential_ceiling(n, 0.5, 10.0) for n in range(7)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0,
    ]  # fmt: skip
    assert exponential_ceiling(3, 1.0, 100.0, multiplier=3.0) == 27.0


def test_jitters_stay_in_their_bands() -> None:
    rng = random.Random(7)
    full = [full_jitter(4.0, rng) for _ in range(500)]
    equal = [equal_jitter(4.0, rng) for _ in range(500)]
    assert all(0.0 <= d <= 4.0 for d in full) and min(full) < 1.0
    assert all(2.0 <= d <= 4.0 for d in equal) and max(equal) > 3.5
    assert full_jitter(0.0, rng) == 0.0 == equal_jitter(0.0, rng)
