"""The report domain: filing, status changes with history, and who hears of them.

A status change writes one outbox row per active subscriber in the same
transaction as the change, so every subscriber hears of it once, in order,
in their own channel, whoever made the change (staff, Open311, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import upsert_insert
from bot.delivery.outbox import Later, enqueue
from bot.messages import Outgoing
from bot.models import REPORT_OPEN, Report, ReportEvent, Subscription
from bot.reporting.places import place_key
from bot.staff import events
from knowledge.geo import degrees_box, distance_m, normalise_address

STATUSES = ("open", "acknowledged", "in_progress", "closed")
CLOSE_REASONS = ("fixed", "duplicate", "not_city_responsibility", "no_further_action")
NUMBER_OFFSET = 10_000  # numbers start at 10001: short, digits only, easy to read out
STATUS_WORDS = {
    "open": "open",
    "acknowledged": "acknowledged",
    "in_progress": "in progress",
    "closed": "closed",
}
REASON_WORDS = {
    "fixed": "fixed",
    "duplicate": "a duplicate of another report",
    "not_city_responsibility": "not the city's responsibility",
    "no_further_action": "no further action needed",
}


def days_to_close(created_at: datetime, closed_at: datetime | None) -> float | None:
    """A closed report's days from filing to closing (never negative: a clock set back
    must not make a report closed before it was filed); None while it is not closed."""
    if closed_at is None:
        return None
    return max(0.0, (closed_at - created_at).total_seconds() / 86400)


class ReportError(ValueError):
    """Something about a report request is wrong; the message is for the person asking."""


def normalise_number(raw: str) -> str:
    digits = "".join(ch for ch in raw if "0" <= ch <= "9")  # not "²" or "፩"
    if not digits:
        raise ReportError(f"'{raw}' is not a report number: report numbers are digits, like 10234.")
    return digits


def parse_status(raw: str) -> str:
    value = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if value not in STATUSES:
        raise ReportError(f"'{raw}' is not a status: use one of {', '.join(STATUSES)}.")
    return value


async def file_report(
    session: AsyncSession,
    *,
    service_code: str,
    description: str,
    now: datetime,
    channel: str | None = None,
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    place: str | None = None,
    attributes: dict[str, Any] | None = None,
    media: list[str] | None = None,
    contact: dict[str, Any] | None = None,
    department: str | None = None,
    source: str = "chat",
    tell_staff: bool = False,
) -> Report:
    """File a report. `place` is the address as given; its folded key is kept for
    duplicate checks. `channel`/`address` (a conversation) make the filer a subscriber;
    `contact` is personal data (Open311 contact fields) and is never shown publicly.
    `tell_staff`: a staff desk is configured, and is told of the report."""
    address_key = normalise_address(place) or None if place else None
    report = Report(
        service_code=service_code,
        description=description,
        status="open",
        lat=lat,
        lon=lon,
        address=place,
        address_key=address_key,
        place_key=place_key(address_key, place, lat, lon),
        attributes=attributes or {},
        media=media or [],
        contact=contact or {},
        department=department,
        source=source,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    report.number = str(NUMBER_OFFSET + report.id)
    session.add(ReportEvent(report_id=report.id, status="open", actor=source, created_at=now))
    if channel and address:
        await subscribe(session, report, channel, address, role="filer", now=now)
    if tell_staff:
        events.tell_staff(
            session, events.report_subject(report.id), events.REPORT_FILED, now, report_id=report.id
        )
    return report


async def find(session: AsyncSession, number: str, *, lock: bool = False) -> Report | None:
    query = select(Report).where(Report.number == normalise_number(number))
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def subscribe(
    session: AsyncSession,
    report: Report,
    channel: str,
    address: str,
    *,
    role: str = "follower",
    now: datetime,
) -> None:
    await session.execute(
        upsert_insert(session, Subscription)
        .values(report_id=report.id, channel=channel, address=address, role=role, active=True, created_at=now)
        .on_conflict_do_update(index_elements=["report_id", "channel", "address"], set_={"active": True})
    )


async def followers(session: AsyncSession, report: Report) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.report_id == report.id, Subscription.active.is_(True))
    )
    return int(count or 0)


# Literal, not bound: SQLite uses the partial index of open reports only for the very same
# expression as its WHERE (migration 0006).
OPEN_SQL = text(f"reports.{REPORT_OPEN}")


async def nearby_open(
    session: AsyncSession,
    service_code: str,
    *,
    lat: float | None,
    lon: float | None,
    place: str | None,
    radius_m: float,
    limit: int = 3,
) -> list[Report]:
    """Open reports of the same service within `radius_m` of the point, or at the same
    folded address: what a resident should see before filing the same problem again.
    Nearest first; by address, newest first."""
    key = normalise_address(place) if place else ""
    # One query per way of being "the same place", each able to use its own index
    # (service and latitude; address key): an OR of the two would scan the service's reports.
    wheres: list[ColumnElement[bool]] = []
    if lat is not None and lon is not None:
        dlat, dlon = degrees_box(lat, radius_m)
        wheres.append(Report.lat.between(lat - dlat, lat + dlat) & Report.lon.between(lon - dlon, lon + dlon))
    if key:
        wheres.append(Report.address_key == key)
    candidates: dict[int, Report] = {}
    for where in wheres:
        rows = await session.scalars(
            select(Report)
            .where(Report.service_code == service_code, where, OPEN_SQL)
            .limit(200)  # no ORDER BY: sorting here would tempt the planner off the range index
        )
        candidates.update((r.id, r) for r in rows.all())

    def distance(report: Report) -> float:
        if lat is None or lon is None or report.lat is None or report.lon is None:
            return 0.0 if key and report.address_key == key else float("inf")
        return distance_m(lat, lon, report.lat, report.lon)

    found = [r for r in candidates.values() if distance(r) <= radius_m or (key and r.address_key == key)]
    found.sort(key=lambda r: (distance(r), -r.created_at.timestamp()))
    return found[:limit]


async def reports_of(session: AsyncSession, channel: str, address: str, *, limit: int = 10) -> list[Report]:
    """The reports a resident filed or follows and still hears about, newest first."""
    rows = await session.scalars(
        select(Report)
        .join(Subscription, Subscription.report_id == Report.id)
        .where(
            Subscription.channel == channel,
            Subscription.address == address,
            Subscription.active.is_(True),
        )
        .order_by(Report.created_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def unsubscribe(session: AsyncSession, channel: str, address: str, number: str | None = None) -> int:
    """Stop updates to this conversation: of one report, or of all. Returns how many stopped."""
    query = update(Subscription).where(
        Subscription.channel == channel, Subscription.address == address, Subscription.active.is_(True)
    )
    if number is not None:
        report = await find(session, number)
        if report is None:
            raise ReportError(f"There is no report {normalise_number(number)}.")
        query = query.where(Subscription.report_id == report.id)
    result = await session.execute(query.values(active=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Change:
    report: Report
    event: ReportEvent
    notified: int


async def set_status(
    session: AsyncSession,
    number: str,
    status: str,
    *,
    now: datetime,
    note: str | None = None,
    reason: str | None = None,
    actor: str = "staff",
    external_id: str | None = None,
    tell_staff: bool = False,
) -> Change:
    """Change a report's status, keep the history, and queue one message per subscriber.

    `external_id` is another system's id for this update; the caller looks it up first
    (`find_event`) so that a retried update is not applied twice."""
    status = parse_status(status)
    if reason is not None and reason not in CLOSE_REASONS:
        raise ReportError(f"'{reason}' is not a closing reason: use one of {', '.join(CLOSE_REASONS)}.")
    if status == "closed" and reason is None:
        reason = "fixed"
    report = await find(session, number, lock=True)
    if report is None:
        raise ReportError(f"There is no report {normalise_number(number)}.")
    report.status = status
    report.close_reason = reason if status == "closed" else None
    report.closed_at = now if status == "closed" else None
    report.days_to_close = days_to_close(report.created_at, report.closed_at)
    report.updated_at = now
    event = ReportEvent(
        report_id=report.id,
        status=status,
        close_reason=report.close_reason,
        note=note,
        actor=actor,
        external_id=external_id,
        created_at=now,
    )
    session.add(event)
    message = Outgoing(status_update_text(report, note))
    subscribers = (
        await session.scalars(
            select(Subscription)
            .where(Subscription.report_id == report.id, Subscription.active.is_(True))
            .order_by(Subscription.id)
        )
    ).all()
    for sub in subscribers:
        enqueue(session, Later(sub.channel, sub.address, message), now)
    await session.flush()
    if tell_staff:
        subject = events.report_subject(report.id)
        events.tell_staff(
            session, subject, events.REPORT_CHANGED, now, report_id=report.id, event_id=event.id
        )
    return Change(report, event, len(subscribers))


async def assign(session: AsyncSession, number: str, assignee: str, *, now: datetime) -> Report:
    """Who works the report now; staff see it, residents are not told (nothing changed for
    them yet)."""
    report = await find(session, number, lock=True)
    if report is None:
        raise ReportError(f"There is no report {normalise_number(number)}.")
    report.assignee, report.updated_at = assignee[:200], now
    subject = events.report_subject(report.id)
    events.tell_staff(
        session, subject, events.REPORT_CHANGED, now, report_id=report.id, assigned=assignee[:200]
    )
    return report


async def find_event(session: AsyncSession, actor: str, external_id: str) -> ReportEvent | None:
    return await session.scalar(
        select(ReportEvent).where(ReportEvent.actor == actor, ReportEvent.external_id == external_id)
    )


def status_update_text(report: Report, note: str | None) -> str:
    text = f"Update on report **{report.number}**: it is now **{STATUS_WORDS[report.status]}**"
    if report.status == "closed" and report.close_reason:
        text += f" ({REASON_WORDS[report.close_reason]})"
    text += "."
    if note:
        text += f"\nNote from city staff: {note}"
    return text


def public_status(report: Report, service_name: str | None = None) -> str:
    """What anyone may see by number: no personal data, no exact description."""
    kind = (service_name or report.service_code.replace("-", " ")).lower()
    text = f"Report **{report.number}** ({kind}) is **{STATUS_WORDS[report.status]}**"
    if report.status == "closed" and report.close_reason:
        text += f" ({REASON_WORDS[report.close_reason]})"
    return text + f". Last updated {report.updated_at:%d %b %Y}."
