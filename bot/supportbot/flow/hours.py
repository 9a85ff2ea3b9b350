"""Business hours: is the support team open at a given instant? Pure, time zone aware."""

from __future__ import annotations

from datetime import UTC, datetime
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
