"""What the reports pages read: a page of the list, one report with its history, the weekly
counts, and the rows of the CSV. Each is a few indexed selects; none reads every report
into memory (the CSV goes out in batches while it is read)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.web.report_filters import Filters
from bot.db import Database
from bot.models import Report, ReportEvent, ServiceRow
from bot.reporting import reports

PAGE_SIZE = 50
AREA_CHOICES = 300  # the busiest places offered in the filter; a link may name any other
CSV_BATCH = 2000


async def service_names(session: AsyncSession) -> dict[str, str]:
    """Code -> name of every service a report may have: the catalogue's, and codes found
    on reports whose service has since left the catalogue (shown by their code)."""
    names = {
        code: name for code, name in (await session.execute(select(ServiceRow.code, ServiceRow.name))).all()
    }
    for code in (await session.scalars(select(Report.service_code).distinct())).all():
        names.setdefault(code, code)
    return names


async def place_choices(session: AsyncSession) -> list[tuple[str, int]]:
    """(place key, reports) of the busiest places, busiest first; NULL is 'none'."""
    count = func.count().label("n")
    rows = await session.execute(
        select(Report.place_key, count)
        .group_by(Report.place_key)
        .order_by(count.desc(), Report.place_key)
        .limit(AREA_CHOICES)
    )
    return [(key if key is not None else "none", int(n)) for key, n in rows.all()]


@dataclass(frozen=True, slots=True)
class ListPage:
    rows: Sequence[Report]
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


async def list_page(session: AsyncSession, filters: Filters, page: int) -> ListPage:
    """Newest first; a page past the end shows the last one."""
    wheres = filters.where()
    total = int(await session.scalar(select(func.count()).select_from(Report).where(*wheres)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = (
        await session.scalars(
            select(Report)
            .where(*wheres)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    return ListPage(rows, total, page, pages)


@dataclass(frozen=True, slots=True)
class ReportView:
    report: Report
    service_name: str
    events: Sequence[ReportEvent]
    followers: int


async def report_view(session: AsyncSession, number: str) -> ReportView | None:
    """One report and its whole history, oldest first; None when there is no such number."""
    report = await reports.find(session, number)
    if report is None:
        return None
    name = await session.scalar(select(ServiceRow.name).where(ServiceRow.code == report.service_code))
    events = (
        await session.scalars(
            select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)
        )
    ).all()
    return ReportView(report, name or report.service_code, events, await reports.followers(session, report))


def week_starts(today: date, weeks: int, zone: tzinfo) -> list[datetime]:
    """The local Mondays, at midnight, that begin the last `weeks` weeks (this one last),
    and the Monday after: `weeks + 1` boundaries."""
    monday = today - timedelta(days=today.weekday())
    days = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks + 1)]
    return [datetime.combine(d, time(), zone) for d in days]


async def weekly_counts(session: AsyncSession, starts: Sequence[datetime]) -> dict[str, list[int]]:
    """Reports filed per service in each week between the boundaries `starts`: one grouped
    count. The week is numbered in a subquery so that the outer GROUP BY names a column
    (PostgreSQL does not match an expression repeated with its own bound parameters)."""
    weeks = len(starts) - 1
    week = case(*((Report.created_at < starts[i + 1], i) for i in range(weeks - 1)), else_=weeks - 1)
    inner = (
        select(Report.service_code.label("code"), week.label("week"))
        .where(Report.created_at >= starts[0], Report.created_at < starts[-1])
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.code, inner.c.week, func.count()).group_by(inner.c.code, inner.c.week)
    )
    counts: dict[str, list[int]] = {}
    for code, index, n in rows.all():
        counts.setdefault(code, [0] * weeks)[int(index)] += int(n)
    return counts


async def csv_rows(db: Database, filters: Filters) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The filtered reports in batches, in the order they were filed. Each batch is its own
    short read: a slow download holds no connection and no transaction open."""
    after = 0
    while True:
        batch: Sequence[Sequence[Any]]
        async with db.reading() as session:
            batch = (
                await session.execute(
                    select(
                        Report.id,
                        Report.number,
                        Report.service_code,
                        Report.status,
                        Report.close_reason,
                        Report.created_at,
                        Report.closed_at,
                        Report.days_to_close,
                        Report.place_key,
                        Report.lat,
                        Report.lon,
                        Report.department,
                        Report.source,
                    )
                    .where(*filters.where(), Report.id > after)
                    .order_by(Report.id)
                    .limit(CSV_BATCH)
                )
            ).all()
        if not batch:
            return
        yield batch
        after = batch[-1][0]
        if len(batch) < CSV_BATCH:
            return
