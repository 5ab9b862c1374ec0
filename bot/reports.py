"""The report domain: filing, status changes with history, and who hears of them.

A status change writes one outbox row per active subscriber in the same
transaction as the change, so every subscriber hears of it once, in order,
in their own channel, whoever made the change (staff, Open311, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import upsert_insert
from bot.dialog import Later
from bot.engine import outbox_row
from bot.messages import Outgoing
from bot.models import Report, ReportEvent, Subscription
from knowledge.geo import normalise_address

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


class ReportError(ValueError):
    """Something about a report request is wrong; the message is for the person asking."""


def normalise_number(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
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
) -> Report:
    """File a report. `place` is the address as given; its folded key is kept for
    duplicate checks. `channel`/`address` (a conversation) make the filer a subscriber;
    `contact` is personal data (Open311 contact fields) and is never shown publicly."""
    report = Report(
        service_code=service_code,
        description=description,
        status="open",
        lat=lat,
        lon=lon,
        address=place,
        address_key=normalise_address(place) or None if place else None,
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


@dataclass(frozen=True, slots=True)
class Change:
    report: Report
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
) -> Change:
    """Change a report's status, keep the history, and queue one message per subscriber."""
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
    report.updated_at = now
    session.add(
        ReportEvent(
            report_id=report.id,
            status=status,
            close_reason=report.close_reason,
            note=note,
            actor=actor,
            created_at=now,
        )
    )
    message = Outgoing(status_update_text(report, note))
    subscribers = (
        await session.scalars(
            select(Subscription)
            .where(Subscription.report_id == report.id, Subscription.active.is_(True))
            .order_by(Subscription.id)
        )
    ).all()
    for sub in subscribers:
        session.add(outbox_row(Later(sub.channel, sub.address, message), now))
    return Change(report, len(subscribers))


def status_update_text(report: Report, note: str | None) -> str:
    text = f"Update on report **{report.number}**: it is now **{STATUS_WORDS[report.status]}**"
    if report.status == "closed" and report.close_reason:
        text += f" ({REASON_WORDS[report.close_reason]})"
    text += "."
    if note:
        text += f"\nNote from city staff: {note}"
    return text


def public_status(report: Report) -> str:
    """What anyone may see by number: no personal data, no exact description."""
    text = (
        f"Report **{report.number}** ({report.service_code.replace('-', ' ')}) is "
        f"**{STATUS_WORDS[report.status]}**"
    )
    if report.status == "closed" and report.close_reason:
        text += f" ({REASON_WORDS[report.close_reason]})"
    return text + f". Last updated {report.updated_at:%d %b %Y}."
