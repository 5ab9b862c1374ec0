"""The reports list's filters, read from a query string: each bad value is one sentence next
to its own field and is left out, so the filters that were right still apply and the page
never fails because of what was typed in an address bar.

Dates are days in the city's time zone, as staff mean them: "to 2025-03-04" includes all
of the 4th there, whatever the server's clock zone. Areas are the places the statistics
group by (`reports.place_key`: a street as residents typed it, or a ~500 m square for a
report with only a pin), so a bar of the statistics page opens the same reports here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from sqlalchemy import ColumnElement

from bot.models import Report
from bot.reporting.places import NO_PLACE, parse_place_key
from bot.reporting.reports import STATUS_WORDS, STATUSES

NOT_CLOSED = "not_closed"  # open, acknowledged and in progress: what still needs work
NO_AREA = "none"  # reports with neither a street nor a pin
STATUS_CHOICES = (
    *((s, STATUS_WORDS[s].capitalize()) for s in STATUSES),
    (NOT_CLOSED, "Not closed (any of the first three)"),
)
FIELDS = ("service", "status", "from", "to", "area")
LAST_DAY = date(9999, 12, 31)  # the day after it has no midnight a datetime can hold


def place_words(key: str | None) -> str:
    """A place key as staff read it: 'Main', '5th & Market', 'Area around 37.781, -122.409'."""
    if key is None or key == NO_AREA:
        return NO_PLACE
    kind, label = parse_place_key(key)
    if kind == "area":
        return f"Area around {label.replace(',', ', ')}"
    return " ".join(w[:1].upper() + w[1:] if w[:1].isalpha() else w for w in label.split(" "))


def _place_ok(value: str) -> bool:
    if value == NO_AREA:
        return True
    try:
        kind, label = parse_place_key(value)
    except ValueError:
        return False
    return kind != "none" and bool(label.strip())


def parse_day(raw: str) -> date:
    """A day as a date field sends it (2025-03-04); ValueError says how to write one."""
    try:
        day = date.fromisoformat(raw)
        if len(raw) != 10:  # fromisoformat also takes 20250304 and 2025-W10-2
            raise ValueError
    except ValueError:
        raise ValueError(
            f"“{raw}” is not a date: write it as year-month-day, for example 2025-03-04."
        ) from None
    if day >= LAST_DAY:
        raise ValueError(f"“{raw}” is too far in the future to filter by: choose a day before {LAST_DAY}.")
    return day


@dataclass(slots=True)
class Filters:
    """What the list shows; `typed` keeps every value as it came (shown back in the form),
    the other fields only the values that were usable."""

    typed: dict[str, str] = field(default_factory=dict)
    service: str = ""
    status: str = ""
    start: datetime | None = None  # filed at or after
    end: datetime | None = None  # filed before (the day after "to", at midnight)
    area: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.service or self.status or self.start or self.end or self.area)

    def where(self) -> list[ColumnElement[bool]]:
        wheres: list[ColumnElement[bool]] = [Report.number.is_not(None)]
        if self.service:
            wheres.append(Report.service_code == self.service)
        if self.status == NOT_CLOSED:
            wheres.append(Report.status != "closed")
        elif self.status:
            wheres.append(Report.status == self.status)
        if self.start is not None:
            wheres.append(Report.created_at >= self.start)
        if self.end is not None:
            wheres.append(Report.created_at < self.end)
        if self.area == NO_AREA:
            wheres.append(Report.place_key.is_(None))
        elif self.area:
            wheres.append(Report.place_key == self.area)
        return wheres

    def query(self, **extra: str | int) -> str:
        """The usable filters as a query string (for the pager and the CSV link): a value
        refused here is not carried to the next page."""
        kept = {name: self.typed.get(name, "") for name in FIELDS if name not in self.errors}
        pairs = {k: v for k, v in kept.items() if v}
        pairs.update({k: str(v) for k, v in extra.items()})
        return urlencode(pairs)


def read_filters(query: Mapping[str, str], *, services: Collection[str], zone: tzinfo) -> Filters:
    """`services`: the codes one may filter by (the catalogue's and any found on reports)."""
    typed = {name: str(query.get(name, "")).strip()[:300] for name in FIELDS}
    found = Filters(typed=typed)
    service = typed["service"]
    if service and service not in services:
        found.errors["service"] = f"There is no service “{service}”: choose one from the list."
    else:
        found.service = service
    status = typed["status"]
    if status and status not in {s for s, _ in STATUS_CHOICES}:
        found.errors["status"] = f"“{status}” is not a status: choose one from the list."
    else:
        found.status = status
    for name in ("from", "to"):
        if not typed[name]:
            continue
        try:
            day = parse_day(typed[name])
        except ValueError as exc:
            found.errors[name] = str(exc)
            continue
        if name == "from":
            found.start = datetime.combine(day, time(), zone)
        else:
            found.end = datetime.combine(day + timedelta(days=1), time(), zone)
    if found.start is not None and found.end is not None and found.end <= found.start:
        found.errors["to"] = (
            "The end date is before the start date: no report could match, so it is left out."
        )
        found.end = None
    area = typed["area"]
    if area and not _place_ok(area):
        found.errors["area"] = f"“{area}” is not a street or area of the list: choose one from it."
    else:
        found.area = area
    return found
