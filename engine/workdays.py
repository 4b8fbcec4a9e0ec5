"""Working days: a duty due "within 5 working days" is due at the end of the fifth working day
after the local date it started on, on the policy's wall clock. A working day is a weekday that is
not a bank holiday of the calendar the policy names (its parameter of unit ``calendar``: a
country and its part as the ``holidays`` package names them, GB-ENG for England, GB-WLS, GB-SCT,
GB-NIR), from that package, whose version is pinned so an evaluation gives the same bytes on
every machine."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from misper.engine.localtime import to_epoch, zone

CALENDAR = "calendar"  # the parameter unit naming a bank-holiday calendar
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def calendar_problem(value: object) -> str | None:
    """Why a calendar parameter's value cannot be used (None when it can)."""
    if not isinstance(value, str) or value.count("-") != 1:
        return f"a calendar is a country and its part, such as GB-ENG (England) or GB-SCT, not {value!r}"
    country, part = value.split("-")
    if country not in holidays.list_supported_countries():
        return f"the holidays package has no country {country!r} (GB-ENG is England's calendar)"
    parts = holidays.country_holidays(country).subdivisions
    if part not in parts:
        known = ", ".join(f"{country}-{s}" for s in parts)
        return f"the calendar {value!r} is not known; {country}'s are {known}"
    return None


@lru_cache(maxsize=16)
def _bank_holidays(calendar: str) -> holidays.HolidayBase:
    country, part = calendar.split("-")
    return holidays.country_holidays(country, subdiv=part)


def is_working_day(day: date, calendar: str) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(calendar)


def working_days_after(start: int, count: int, tz: str, calendar: str) -> int:
    """The end (the next local midnight) of the ``count``th working day after the local date of
    ``start`` (epoch seconds)."""
    local = zone(tz)
    day = datetime.fromtimestamp(start, local).date()
    counted = 0
    while counted < count:
        day += timedelta(days=1)
        counted += is_working_day(day, calendar)
    return to_epoch(datetime.combine(day + timedelta(days=1), time(0), local))


def shortest_working_days(count: int) -> int:
    """A lower bound, in seconds, of ``count`` working days from any instant (a clock change may
    take an hour off)."""
    return count * 86400 - 3600
