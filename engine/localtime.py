"""Instants as integer epoch seconds, and their local-time views for a policy's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
EXACT_SECONDS = 2**33  # seconds (until the year 2242): a double holds every microsecond below this


def to_epoch(moment: datetime) -> int:
    """Whole seconds since the epoch, exactly (rounded down); the contract's instants carry no
    sub-second meaning. A float timestamp's floor is exact while a double still holds every
    microsecond; beyond that (a .999999 would round up to the next second) it is worked out in
    whole numbers."""
    seconds = moment.timestamp()
    if -EXACT_SECONDS < seconds < EXACT_SECONDS:
        return int(seconds // 1)
    return (moment - _EPOCH) // _SECOND


def text_epoch(instant: str) -> int:
    """An ISO 8601 instant with its offset (as the engine and the store write them) in whole
    epoch seconds."""
    return to_epoch(datetime.fromisoformat(instant))


@lru_cache(maxsize=8192)
def iso_local(epoch: int, tz: str) -> str:
    """ISO 8601 with the local offset in force at that instant (+01:00 in BST, +00:00 in GMT)."""
    return datetime.fromtimestamp(epoch, zone(tz)).isoformat()


@lru_cache(maxsize=8192)
def human_local(epoch: int, tz: str) -> str:
    """A reader's form of an instant, e.g. '19:40 on 11 July 2023 (BST)'."""
    moment = datetime.fromtimestamp(epoch, zone(tz))
    return f"{moment:%H:%M} on {moment.day} {moment:%B %Y} ({moment.tzname()})"


def clocks_changed(first: int, second: int, tz: str) -> str:
    """' (the clocks went back an hour between them)' when the two instants read in different
    offsets, so '01:45 (GMT), 55 minutes after 01:50 (BST)' does not read as a contradiction;
    else nothing."""
    local = zone(tz)
    a = datetime.fromtimestamp(first, local).utcoffset()
    b = datetime.fromtimestamp(second, local).utcoffset()
    if a is None or b is None or a == b:
        return ""
    way = "back" if b < a else "forward"
    return f" (the clocks went {way} {human_duration(abs(int((b - a).total_seconds())))} between them)"


def human_duration(seconds: int) -> str:
    """'2 hours 5 minutes', '45 minutes', '3 days': whole minutes, largest units first."""
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = []
    for value, unit in ((days, "day"), (hours, "hour"), (mins, "minute")):
        if value:
            parts.append(f"{value} {unit}{'' if value == 1 else 's'}")
    return " ".join(parts) if parts else "less than a minute"


def local_window_entries(
    start: int, end: int, tz: str, gap_start: time, gap_end: time
) -> tuple[tuple[int, int, int], ...]:
    """For each local window [gap_start, gap_end) that [start, end] overlaps: the window's own
    start, the first instant of [start, end] inside it, and the window's end. Worked out once
    for a span of a few days (every evaluation of an incident asks for its report's night again);
    a longer one is not kept."""
    if end - start <= 3 * 86_400:
        return _short_window_entries(start, end, tz, gap_start, gap_end)
    return _window_entries(start, end, tz, gap_start, gap_end)


@lru_cache(maxsize=4096)
def _short_window_entries(
    start: int, end: int, tz: str, gap_start: time, gap_end: time
) -> tuple[tuple[int, int, int], ...]:
    return _window_entries(start, end, tz, gap_start, gap_end)


def _window_entries(
    start: int, end: int, tz: str, gap_start: time, gap_end: time
) -> tuple[tuple[int, int, int], ...]:
    """Walks the local calendar days the interval touches and builds each day's window in local
    time, so a window on a daylight-saving change day is as long as the clocks make it."""
    tzinfo = zone(tz)
    day = datetime.fromtimestamp(start, tzinfo).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp(end, tzinfo).date()
    out = []
    while day <= last_day:
        window_start = wall_to_epoch(datetime.combine(day, gap_start), tzinfo)
        end_day = day if gap_end > gap_start else day + timedelta(days=1)
        window_end = wall_to_epoch(datetime.combine(end_day, gap_end), tzinfo)
        lo, hi = max(start, window_start), min(end, window_end - 1)
        if lo <= hi:
            out.append((window_start, lo, window_end))
        day += timedelta(days=1)
    return tuple(out)


def wall_to_epoch(naive_local: datetime, tzinfo: ZoneInfo) -> int:
    """The first instant at which the local clock reads ``naive_local`` or later.

    When the clocks repeat an hour this is the earlier reading; when they skip one (the wall time
    never happens) it is the instant the clocks jump, not an hour either side of it.
    """
    earlier = naive_local.replace(tzinfo=tzinfo, fold=0)
    if earlier.astimezone(UTC).astimezone(tzinfo).replace(tzinfo=None) == naive_local:
        return to_epoch(earlier)
    moment = to_epoch(naive_local.replace(tzinfo=tzinfo, fold=1))
    while datetime.fromtimestamp(moment, tzinfo).replace(tzinfo=None) < naive_local:
        moment += 60  # clock changes fall on whole minutes
    return moment
