"""Business hours at their boundaries and across time zones and DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supportbot.flow.hours import is_open
from supportbot.flow.schema import DAYS, BusinessHours

SECOND = timedelta(seconds=1)


def _hours(timezone: str, window: str = "09:00-18:00") -> BusinessHours:
    return BusinessHours.model_validate(
        {"timezone": timezone, "schedule": {day: [window] for day in DAYS}, "message": "closed"}
    )


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-SECOND, False),  # one second before opening
        (timedelta(0), True),  # exactly at opening
        (timedelta(hours=9) - SECOND, True),  # one second before closing
        (timedelta(hours=9), False),  # exactly at closing: the end is exclusive
        (timedelta(hours=9) + SECOND, False),  # one second after closing
    ],
)
def test_window_is_half_open(offset: timedelta, expected: bool) -> None:
    opening = _utc(2026, 6, 10, 9, 0)  # a Wednesday, UTC
    assert is_open(_hours("UTC"), opening + offset) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_utc(2026, 6, 10, 3, 29, 59), False),  # 08:59:59 IST
        (_utc(2026, 6, 10, 3, 30), True),  # 09:00 IST (UTC+05:30, no DST)
        (_utc(2026, 6, 10, 12, 29, 59), True),  # 17:59:59 IST
        (_utc(2026, 6, 10, 12, 30), False),  # 18:00 IST
        (_utc(2026, 12, 10, 3, 30), True),  # the same offset in winter
        (_utc(2026, 12, 10, 12, 30), False),
    ],
)
def test_kolkata_has_a_fixed_half_hour_offset(now: datetime, expected: bool) -> None:
    assert is_open(_hours("Asia/Kolkata"), now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # before spring forward (Fri 2026-03-06, EST = UTC-5)
        (_utc(2026, 3, 6, 13, 59, 59), False),
        (_utc(2026, 3, 6, 14, 0), True),
        (_utc(2026, 3, 6, 22, 59, 59), True),
        (_utc(2026, 3, 6, 23, 0), False),
        # after spring forward on 2026-03-08 (Mon 2026-03-09, EDT = UTC-4)
        (_utc(2026, 3, 9, 12, 59, 59), False),
        (_utc(2026, 3, 9, 13, 0), True),
        (_utc(2026, 3, 9, 21, 59, 59), True),
        (_utc(2026, 3, 9, 22, 0), False),
        # before fall back (Fri 2026-10-30, EDT)
        (_utc(2026, 10, 30, 13, 0), True),
        (_utc(2026, 10, 30, 22, 0), False),
        # after fall back on 2026-11-01 (Mon 2026-11-02, EST)
        (_utc(2026, 11, 2, 13, 59, 59), False),
        (_utc(2026, 11, 2, 14, 0), True),
        (_utc(2026, 11, 2, 22, 59, 59), True),
        (_utc(2026, 11, 2, 23, 0), False),
    ],
)
def test_new_york_follows_dst(now: datetime, expected: bool) -> None:
    assert is_open(_hours("America/New_York"), now) is expected


def test_new_york_transition_nights() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT: a 02:00-03:00 window never happens that night.
    skipped = _hours("America/New_York", "02:00-03:00")
    assert not is_open(skipped, _utc(2026, 3, 8, 6, 59, 59))  # 01:59:59 EST
    assert not is_open(skipped, _utc(2026, 3, 8, 7, 0))  # 03:00 EDT
    # 2026-11-01 01:00-02:00 happens twice (EDT, then EST): open both times.
    twice = _hours("America/New_York", "01:00-02:00")
    assert is_open(twice, _utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    assert is_open(twice, _utc(2026, 11, 1, 6, 30))  # 01:30 EST
    assert not is_open(twice, _utc(2026, 11, 1, 7, 0))  # 02:00 EST


def test_weekday_and_holiday_are_local() -> None:
    # Sunday 19:00 UTC is Monday 00:30 in Kolkata: Monday's schedule and date apply.
    hours = BusinessHours.model_validate(
        {"timezone": "Asia/Kolkata", "schedule": {"mon": ["00:00-01:00"]}, "message": "closed"}
    )
    assert is_open(hours, _utc(2026, 6, 7, 19, 0))
    holiday = hours.model_copy(update={"holidays": ["2026-06-08"]})
    assert not is_open(holiday, _utc(2026, 6, 7, 19, 0))


def test_a_window_ending_at_midnight() -> None:
    hours = BusinessHours.model_validate(
        {"timezone": "UTC", "schedule": {"wed": ["18:00-24:00"]}, "message": "closed"}
    )
    assert is_open(hours, _utc(2026, 6, 10, 23, 59, 59))
    assert not is_open(hours, _utc(2026, 6, 11, 0, 0))  # Thursday has no window


def test_naive_datetimes_are_utc() -> None:
    assert is_open(_hours("UTC"), datetime(2026, 6, 10, 9, 0))
    assert not is_open(_hours("UTC"), datetime(2026, 6, 10, 18, 0))


def _weekdays(timezone: str) -> BusinessHours:
    return BusinessHours.model_validate(
        {
            "timezone": timezone,
            "schedule": {
                "mon": ["09:00-13:00", "14:00-18:00"],
                "tue": ["09:00-18:00"],
                "fri": ["10:00-16:00"],
            },
            "holidays": ["2026-06-16"],  # a Tuesday
            "message": "closed",
        }
    )


@pytest.mark.parametrize(
    ("now", "expected", "text"),
    [
        # Monday 08:00 IST (02:30 UTC): later today
        (_utc(2026, 6, 15, 2, 30), datetime(2026, 6, 15, 9, 0), "09:00"),
        # Monday 13:30 IST, in the lunch gap: the afternoon window
        (_utc(2026, 6, 15, 8, 0), datetime(2026, 6, 15, 14, 0), "14:00"),
        # Monday 19:00 IST: Tuesday is a holiday, Friday 10:00 next
        (_utc(2026, 6, 15, 13, 30), datetime(2026, 6, 19, 10, 0), "Fri 10:00"),
        # Thursday 23:00 IST: tomorrow
        (_utc(2026, 6, 18, 17, 30), datetime(2026, 6, 19, 10, 0), "10:00"),
    ],
)
def test_next_opening_skips_gaps_and_holidays(now: datetime, expected: datetime, text: str) -> None:
    from zoneinfo import ZoneInfo

    from supportbot.flow.hours import next_opening, opens_at_text

    hours = _weekdays("Asia/Kolkata")
    assert next_opening(hours, now) == expected.replace(tzinfo=ZoneInfo("Asia/Kolkata"))
    assert opens_at_text(hours, now) == text


def test_no_opening_scheduled_gives_an_empty_text() -> None:
    from supportbot.flow.hours import next_opening, opens_at_text

    hours = BusinessHours.model_validate({"timezone": "UTC", "schedule": {}, "message": "closed"})
    assert next_opening(hours, _utc(2026, 6, 15, 12, 0)) is None
    assert opens_at_text(hours, _utc(2026, 6, 15, 12, 0)) == ""
