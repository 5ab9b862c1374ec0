"""When city staff are at work (STAFF_HOURS), so a handoff can say truthfully when a
person will see the question."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SPEC = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True, slots=True)
class StaffHours:
    """Days of the week (0 = Monday) and the hours of those days, in the city's time zone.
    `always` is "24/7": a desk watched at all hours."""

    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo
    always: bool = False

    def is_open(self, now: datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_opening(self, now: datetime) -> datetime:
        """The next time staff are back (now, when they are at work)."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            opening = datetime.combine(day, self.start, tzinfo=self.zone)
            if day.weekday() in self.days and opening > local:
                return opening
        return now  # no working day at all: cannot happen for a parsed spec

    def describe(self) -> str:
        if self.always:
            return "at all hours"
        days = sorted(self.days)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            span = f"{DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}"
        else:
            span = ", ".join(DAY_NAMES[d] for d in days)
        return f"{span}, {_clock(self.start)} to {_clock(self.end)}"

    def when(self, moment: datetime, now: datetime) -> str:
        """A next opening in words, as a resident reads it: "today at 8:00", "Monday at 8:00"."""
        local, today = moment.astimezone(self.zone), now.astimezone(self.zone).date()
        if local.date() == today:
            day = "today"
        elif local.date() == today + timedelta(days=1):
            day = "tomorrow"
        else:
            day = DAY_NAMES[local.weekday()]
        return f"{day} at {_clock(local.time())}"


def _clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def parse_hours(spec: str, zone: str) -> StaffHours:
    """ "Mon-Fri 08:00-17:00", "Sat 09:00-13:00" or "24/7". Raises ValueError with what is wrong."""
    tz = ZoneInfo(zone)
    if spec.strip().lower() in ("24/7", "always"):
        return StaffHours(frozenset(range(7)), time(0), time(23, 59), tz, always=True)
    found = _SPEC.match(spec.lower())
    if found is None:
        raise ValueError(
            "must look like 'Mon-Fri 08:00-17:00' (days, then opening and closing time) or '24/7'"
        )
    first, last = found["first"], found["last"] or found["first"]
    if first not in DAYS or last not in DAYS:
        raise ValueError(f"days are written {', '.join(d.title() for d in DAYS)}")
    a, b = DAYS.index(first), DAYS.index(last)
    days = frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(0, b + 1)])
    try:
        start, end = (time.fromisoformat(found[k].zfill(5)) for k in ("start", "end"))
    except ValueError:
        raise ValueError("times are written HH:MM, from 00:00 to 23:59") from None
    if end <= start:
        raise ValueError("the closing time must be after the opening time")
    return StaffHours(days, start, end, tz)
