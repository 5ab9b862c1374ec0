"""Report statistics for city staff: what is reported, where, and how fast it is closed.

Everything is counted in SQL, grouped on columns written with each report: the place
(`reports.place_key`, see bot/reporting/places.py: the street as residents typed it, or
a ~500 m square for a pin) and the days from filing to closing (`reports.days_to_close`).
Two grouped counts give every tally; the medians are then one lookup of the middle
rows per group (bot/reporting/medians.py). Nothing here reads one row per report, so a
million reports cost well under a second (`benchmarks/stats.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import catalogue_store
from bot.models import Report
from bot.reporting.medians import GroupColumn, Wanted, medians
from bot.reporting.places import (
    AREA_CELL_M,
    NO_PLACE,
    PlaceKind,
    area_of,
    parse_place_key,
    place_of,
    street_of,
)
from bot.reporting.reports import CLOSE_REASONS, STATUSES

__all__ = [
    "AREA_CELL_M",
    "NO_PLACE",
    "UNSPECIFIED_REASON",
    "PlaceKind",
    "PlaceStats",
    "ReasonStats",
    "ServiceStats",
    "Stats",
    "Tally",
    "area_of",
    "place_of",
    "report_stats",
    "street_of",
]

UNSPECIFIED_REASON = "unspecified"  # a report closed without a reason (set directly in the database)


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


@dataclass(slots=True)
class _Group:
    """A tally being counted: reports per status, and how many have a time to close."""

    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    timed: int = 0
    column: GroupColumn | None = None  # which reports, for the median's lookup: all, or
    value: str | None = None  # those whose `column` is `value`

    def add(self, status: str, count: int, timed: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + count
        self.timed += timed

    def tally(self, median: float | None) -> Tally:
        return Tally(dict(self.by_status), median)


async def report_stats(session: AsyncSession, *, since: datetime | None = None, time_zone: tzinfo) -> Stats:
    """Statistics of the reports filed since `since` (all when None). A `since` without a
    time zone is read as the city's local time (`time_zone`), as staff mean a date."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=time_zone)
    filters = [Report.created_at >= since] if since is not None else []

    total = _Group()
    services: dict[str, _Group] = {}
    reasons: dict[str, _Group] = defaultdict(_Group)
    counted = await session.execute(
        select(
            Report.service_code,
            Report.status,
            Report.close_reason,
            func.count(),
            func.count(Report.days_to_close),
        )
        .where(*filters)
        .group_by(Report.service_code, Report.status, Report.close_reason)
    )
    for code, status, reason, count, timed in counted.all():
        total.add(status, count, timed)
        services.setdefault(code, _Group(column="service_code", value=code)).add(status, count, timed)
        if status == "closed":
            group = reasons.setdefault(
                reason or UNSPECIFIED_REASON, _Group(column="close_reason", value=reason)
            )
            group.add(status, count, timed)

    places: dict[str | None, _Group] = {}
    placed = await session.execute(
        select(Report.place_key, Report.status, func.count(), func.count(Report.days_to_close))
        .where(*filters)
        .group_by(Report.place_key, Report.status)
    )
    for key, status, count, timed in placed.all():
        places.setdefault(key, _Group(column="place_key", value=key)).add(status, count, timed)

    reason_order = _reason_order(reasons)
    groups = [total, *services.values(), *(reasons[r] for r in reason_order), *places.values()]
    found = iter(await medians(session, [Wanted(g.column, g.value, g.timed) for g in groups], since=since))
    tallies = {id(g): g.tally(next(found)) for g in groups}

    names = {s.code: s.name for s in (await catalogue_store.load(session)).services}
    return Stats(
        since=since,
        time_zone=time_zone,
        total=tallies[id(total)],
        services=tuple(
            sorted(
                (ServiceStats(code, names.get(code, code), tallies[id(g)]) for code, g in services.items()),
                key=lambda s: (-s.tally.total, s.name.lower(), s.code),
            )
        ),
        places=tuple(
            sorted(
                (PlaceStats(label, kind, tallies[id(g)]) for (kind, label), g in _by_place(places)),
                key=lambda p: (-p.tally.total, p.kind == "none", p.label),
            )
        ),
        reasons=tuple(ReasonStats(r, tallies[id(reasons[r])]) for r in reason_order),
    )


def _by_place(places: Mapping[str | None, _Group]) -> Iterable[tuple[tuple[PlaceKind, str], _Group]]:
    return ((parse_place_key(key), group) for key, group in places.items())


def _reason_order(seen: Iterable[str]) -> list[str]:
    """Every closing reason, in the order staff choose them, then any others found."""
    return [*CLOSE_REASONS, *sorted(set(seen) - set(CLOSE_REASONS))]
