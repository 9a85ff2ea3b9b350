"""Business hours: is the support team open at a given instant? Pure, time zone aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from supportbot.flow.schema import DAYS, BusinessHours


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def is_open(hours: BusinessHours, now: datetime) -> bool:
    """True when `now` falls in an opening window of its weekday in the flow's time zone.

    Windows are half-open ``[start, end)``; ``24:00`` ends at midnight. Holidays are closed.
    Naive datetimes are taken as UTC.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date().isoformat() in hours.holidays:
        return False
    day = DAYS[local.weekday()]
    minute = local.hour * 60 + local.minute
    for window in hours.schedule.get(day, []):  # type: ignore[call-overload]
        start, end = window.split("-")
        if _minutes(start) <= minute < _minutes(end):
            return True
    return False


LOOKAHEAD_DAYS = 14
"""How far `next_opening` looks (two weeks covers any weekly schedule plus holidays)."""


def next_opening(hours: BusinessHours, now: datetime) -> datetime | None:
    """The next instant (in the flow's time zone) a window opens after `now`, skipping
    holidays; None when nothing opens within `LOOKAHEAD_DAYS`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    zone = ZoneInfo(hours.timezone)
    local = now.astimezone(zone)
    for ahead in range(LOOKAHEAD_DAYS + 1):
        day = (local + timedelta(days=ahead)).date()
        if day.isoformat() in hours.holidays:
            continue
        starts = sorted(
            _minutes(w.split("-")[0])
            for w in hours.schedule.get(DAYS[day.weekday()], [])  # type: ignore[call-overload]
        )
        for minute in starts:
            at = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
            if at > local:
                return at
    return None


def opens_at_text(hours: BusinessHours, now: datetime) -> str:
    """`{{opens_at}}` of the out-of-hours message: "09:00" when the team opens today or
    tomorrow (local time), "Mon 09:00" later in the week, "" when no opening is scheduled."""
    at = next_opening(hours, now)
    if at is None:
        return ""
    local_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(at.tzinfo)
    clock = at.strftime("%H:%M")
    if (at.date() - local_now.date()).days <= 1:
        return clock
    return f"{DAYS[at.weekday()].capitalize()} {clock}"
