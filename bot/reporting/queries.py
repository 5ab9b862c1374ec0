"""Reading reports and their history for other systems and for staff (Open311's GET
requests and GET servicerequestupdates, the admin pages).

Each list is one indexed select (reports by created_at or service_code/status,
events by created_at) plus one grouped select for the latest staff notes, so a
page of a thousand requests costs two queries, not a thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Report, ReportEvent, ServiceRow

MAX_RESULTS = 1000  # rows per query unless a caller asks for fewer


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which filed reports to read. With `ids` (report numbers), the other filters do not
    apply: asking for particular reports means those, whatever their state."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS
    offset: int = 0


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Status changes and notes from `start` to `end`, of some reports or all."""

    start: datetime
    end: datetime
    ids: tuple[str, ...] = ()
    limit: int = MAX_RESULTS


async def find_requests(session: AsyncSession, query: ReportQuery) -> Sequence[Report]:
    stmt = select(Report).where(Report.number.is_not(None))
    if query.ids:
        stmt = stmt.where(Report.number.in_(query.ids))
    else:
        if query.service_codes:
            stmt = stmt.where(Report.service_code.in_(query.service_codes))
        if query.statuses:
            stmt = stmt.where(Report.status.in_(query.statuses))
        if query.start is not None:
            stmt = stmt.where(Report.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Report.created_at <= query.end)
    stmt = stmt.order_by(Report.created_at.desc(), Report.id.desc()).offset(query.offset).limit(query.limit)
    return (await session.scalars(stmt)).all()


async def latest_notes(session: AsyncSession, report_ids: Sequence[int]) -> dict[int, str]:
    """Each report's most recent note from staff (or another system), by report id."""
    if not report_ids:
        return {}
    newest = (
        select(func.max(ReportEvent.id))
        .where(ReportEvent.report_id.in_(report_ids), ReportEvent.note.is_not(None), ReportEvent.note != "")
        .group_by(ReportEvent.report_id)
    )
    rows = await session.execute(
        select(ReportEvent.report_id, ReportEvent.note).where(ReportEvent.id.in_(newest))
    )
    return {report_id: note for report_id, note in rows.all() if note}


async def find_updates(
    session: AsyncSession, query: EventQuery
) -> Sequence[tuple[ReportEvent, str, dict[str, Any]]]:
    """Events in the window, oldest first, so a client polling 'since my last update'
    can carry on from the last one it got when the cap cuts a list short. Each comes
    with its report's number and contact (only to blank the contact out of notes)."""
    stmt = (
        select(ReportEvent, Report.number, Report.contact)
        .join(Report, Report.id == ReportEvent.report_id)
        .where(ReportEvent.created_at >= query.start, ReportEvent.created_at <= query.end)
    )
    if query.ids:
        stmt = stmt.where(Report.number.in_(query.ids))
    stmt = stmt.order_by(ReportEvent.created_at, ReportEvent.id).limit(query.limit)
    rows = await session.execute(stmt)
    return [(event, str(number), contact or {}) for event, number, contact in rows.all()]


async def catalogue_changed_at(session: AsyncSession) -> datetime | None:
    """When the service catalogue last changed: discovery's `changeset`, which tells
    clients to refresh the service list and definitions they cache."""
    value: datetime | None = await session.scalar(select(func.max(ServiceRow.updated_at)))
    return value
