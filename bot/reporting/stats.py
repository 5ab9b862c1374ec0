"""Report statistics for city staff: what is reported, where, and how fast it is closed.

Counts by service, status and closing reason are SQL aggregates. Medians need each
report's time to close and places need each report's address, so those come from one
narrow query over the reports (a few columns a row; fine at city scale, measured by
`benchmarks/stats.py`). A place is the street of the address as residents typed it,
folded so '123 Main St' and '456 Main Street' are one street and '5th and Market' one
corner; a report with only a pin falls into a ~500 m grid square named by its centre.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import catalogue_store
from bot.models import Report
from bot.reporting.reports import CLOSE_REASONS, STATUSES
from knowledge.geo import EARTH_RADIUS_M, normalise_address

AREA_CELL_M = 500.0
UNSPECIFIED_REASON = "unspecified"  # a report closed without a reason (set directly in the database)
NO_PLACE = "(no place given)"
PlaceKind = Literal["street", "area", "none"]

# A house number ('123', '123a'), not an ordinal street name ('5th', '1st').
_HOUSE_NUMBER = re.compile(r"\d+[a-z]?")
_CELL_DEGREES_LAT = math.degrees(AREA_CELL_M / EARTH_RADIUS_M)


@dataclass(frozen=True, slots=True)
class Tally:
    """How many reports are in each status, and the median days from filing to closing."""

    by_status: Mapping[str, int]
    median_days_to_close: float | None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def closed(self) -> int:
        return self.by_status.get("closed", 0)

    @property
    def open(self) -> int:
        """Not closed: open, acknowledged and in progress alike."""
        return self.total - self.closed


@dataclass(frozen=True, slots=True)
class ServiceStats:
    code: str
    name: str
    tally: Tally


@dataclass(frozen=True, slots=True)
class PlaceStats:
    label: str  # '5th & market', 'main', '37.780,-122.410' (an area's centre), or NO_PLACE
    kind: PlaceKind
    tally: Tally


@dataclass(frozen=True, slots=True)
class ReasonStats:
    reason: str  # one of CLOSE_REASONS, or UNSPECIFIED_REASON
    tally: Tally  # closed reports only


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime | None  # reports filed at or after this moment; None: all
    time_zone: tzinfo
    total: Tally
    services: tuple[ServiceStats, ...]
    places: tuple[PlaceStats, ...]
    reasons: tuple[ReasonStats, ...]

    @property
    def empty(self) -> bool:
        return self.total.total == 0


def street_of(address_key: str) -> str:
    """The street of a folded address: house numbers dropped, cross streets kept together
    ('123 main' -> 'main', '5th & market' stays, '12 main & 5th' -> '5th & main')."""
    streets = []
    for part in address_key.split(" & "):
        words = part.split()
        while len(words) > 1 and _HOUSE_NUMBER.fullmatch(words[0]):
            words.pop(0)
        if words and not (len(words) == 1 and _HOUSE_NUMBER.fullmatch(words[0])):
            streets.append(" ".join(words))
    return " & ".join(sorted(set(streets)))


def area_of(lat: float, lon: float) -> str:
    """The ~500 m grid square a point is in, named by its centre ('37.781,-122.409').
    Rows are 500 m of latitude; each row's squares are 500 m wide at the row's middle."""
    row = math.floor(lat / _CELL_DEGREES_LAT)
    centre_lat = (row + 0.5) * _CELL_DEGREES_LAT
    cell_lon = _CELL_DEGREES_LAT / max(0.01, math.cos(math.radians(centre_lat)))
    column = math.floor(lon / cell_lon)
    return f"{centre_lat:.3f},{(column + 0.5) * cell_lon:.3f}"


def place_of(
    address_key: str | None, address: str | None, lat: float | None, lon: float | None
) -> tuple[PlaceKind, str]:
    """Where a report counts: its street if the address names one, else its area."""
    street = street_of(address_key or (normalise_address(address) if address else ""))
    if street:
        return "street", street
    if lat is not None and lon is not None:
        return "area", area_of(lat, lon)
    return "none", NO_PLACE


@dataclass(slots=True)
class _Group:
    """A tally being counted."""

    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    days: list[float] = field(default_factory=list)

    def add(self, status: str, count: int = 1) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + count

    def tally(self) -> Tally:
        median = statistics.median(self.days) if self.days else None
        return Tally(dict(self.by_status), median)


async def report_stats(session: AsyncSession, *, since: datetime | None = None, time_zone: tzinfo) -> Stats:
    """Statistics of the reports filed since `since` (all when None). A `since` without a
    time zone is read as the city's local time (`time_zone`), as staff mean a date."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=time_zone)
    filters = [Report.created_at >= since] if since is not None else []

    total = _Group()
    services: dict[str, _Group] = defaultdict(_Group)
    reasons: dict[str, _Group] = defaultdict(_Group)
    counted = await session.execute(
        select(Report.service_code, Report.status, Report.close_reason, func.count())
        .where(*filters)
        .group_by(Report.service_code, Report.status, Report.close_reason)
    )
    for code, status, reason, count in counted.all():
        total.add(status, count)
        services[code].add(status, count)
        if status == "closed":
            reasons[reason or UNSPECIFIED_REASON].add(status, count)

    places: dict[tuple[PlaceKind, str], _Group] = defaultdict(_Group)
    rows = await session.execute(
        select(
            Report.service_code,
            Report.status,
            Report.close_reason,
            Report.address_key,
            Report.address,
            Report.lat,
            Report.lon,
            Report.created_at,
            Report.closed_at,
        ).where(*filters)
    )
    for code, status, reason, key, address, lat, lon, created_at, closed_at in rows.all():
        place = places[place_of(key, address, lat, lon)]
        place.add(status)
        if status == "closed" and closed_at is not None:
            days = max(0.0, (closed_at - created_at).total_seconds() / 86400)
            for group in (total, services[code], reasons[reason or UNSPECIFIED_REASON], place):
                group.days.append(days)

    names = {s.code: s.name for s in (await catalogue_store.load(session)).services}
    return Stats(
        since=since,
        time_zone=time_zone,
        total=total.tally(),
        services=tuple(
            sorted(
                (ServiceStats(code, names.get(code, code), g.tally()) for code, g in services.items()),
                key=lambda s: (-s.tally.total, s.name.lower(), s.code),
            )
        ),
        places=tuple(
            sorted(
                (PlaceStats(label, kind, g.tally()) for (kind, label), g in places.items()),
                key=lambda p: (-p.tally.total, p.kind == "none", p.label),
            )
        ),
        reasons=tuple(ReasonStats(r, reasons[r].tally()) for r in _reason_order(reasons)),
    )


def _reason_order(seen: Iterable[str]) -> list[str]:
    """Every closing reason, in the order staff choose them, then any others found."""
    return [*CLOSE_REASONS, *sorted(set(seen) - set(CLOSE_REASONS))]
