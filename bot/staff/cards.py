"""What a staff desk shows, read from the database when it sends: a report, a handoff, one
line of history. Channel-neutral (a desk renders them); never a resident's platform id,
phone number or contact details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import catalogue_store
from bot.models import Conversation, Handoff, Report, ReportEvent, Subscription, TranscriptMessage
from bot.reporting.reports import REASON_WORDS, STATUS_WORDS, followers
from knowledge.catalogue import Catalogue

CHANNEL_WORDS = {
    "webchat": "the web chat",
    "telegram": "Telegram",
    "console": "the terminal",
    "open311": "Open311",
}
RECENT_MESSAGES = 10


def channel_words(channel: str) -> str:
    return CHANNEL_WORDS.get(channel, channel)


@dataclass(frozen=True, slots=True)
class ReportCard:
    id: int
    number: str
    service: str
    department: str | None
    department_channel: str | None  # the department's own staff channel, if the catalogue names one
    description: str
    status: str  # in words: "in progress", "closed (fixed)"
    status_code: str
    place: str | None
    lat: float | None
    lon: float | None
    photos: tuple[str, ...]  # media keys
    answers: tuple[tuple[str, str], ...]  # (the service's question, the resident's answer)
    followers: int
    source: str  # in words
    filed_at: datetime
    assignee: str | None
    can_reply: bool  # a resident in a chat to reply to
    last: str | None  # the latest change in words, for the message's footer


@dataclass(frozen=True, slots=True)
class Said:
    who: str  # "Resident", "Bot", "Staff"
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class HandoffCard:
    id: int
    question: str
    status: str  # open | held | closed
    held_by: str | None
    report_number: str | None
    conversation: int  # shown as "resident #12": staff can tell residents apart, nothing more
    channel: str  # in words
    opened_at: datetime
    recent: tuple[Said, ...]
    answered: bool  # staff have replied: the reply can be saved as an FAQ


async def report_card(
    session: AsyncSession, report_id: int, catalogue: Catalogue | None = None
) -> ReportCard | None:
    report = await session.get(Report, report_id)
    if report is None:
        return None
    catalogue = catalogue or await catalogue_store.load(session)
    service = catalogue.get(report.service_code)
    answers: list[tuple[str, str]] = []
    for code, value in (report.attributes or {}).items():
        attribute = next((a for a in service.attributes if a.code == code), None) if service else None
        label = attribute.description if attribute else code
        if attribute is not None and attribute.values:
            names = {v.key: v.name for v in attribute.values}
            values = value if isinstance(value, list) else [value]
            value = ", ".join(names.get(str(v), str(v)) for v in values)
        answers.append((label, str(value)))
    filer = await session.scalar(
        select(Subscription.id).where(
            Subscription.report_id == report.id, Subscription.role == "filer", Subscription.active.is_(True)
        )
    )
    status = STATUS_WORDS[report.status]
    if report.status == "closed" and report.close_reason:
        status += f" ({REASON_WORDS[report.close_reason]})"
    last = await session.scalar(
        select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id.desc()).limit(1)
    )
    return ReportCard(
        id=report.id,
        number=report.number or str(report.id),
        service=service.name if service else report.service_code,
        department=report.department,
        department_channel=next(
            (d.slack_channel for d in catalogue.departments if d.name == report.department), None
        ),
        description=report.description,
        status=status,
        status_code=report.status,
        place=report.address,
        lat=report.lat,
        lon=report.lon,
        photos=tuple(str(k) for k in report.media or () if "/" not in str(k)),
        answers=tuple(answers),
        followers=await followers(session, report),
        source=channel_words(report.source),
        filed_at=report.created_at,
        assignee=report.assignee,
        can_reply=filer is not None,
        last=event_words(last) if last is not None and last.status != "open" else None,
    )


def event_words(event: ReportEvent) -> str:
    words = STATUS_WORDS[event.status].capitalize()
    if event.status == "closed" and event.close_reason:
        words += f" ({REASON_WORDS[event.close_reason]})"
    return f"{words}, by {actor_words(event.actor)}"


def actor_words(actor: str) -> str:
    """An event's actor as staff read it: "slack:Jane Doe" is Jane Doe; "cli" the command line."""
    desk, _, name = actor.partition(":")
    if name:
        return name
    return {"cli": "the command line", "open311": "another system (Open311)"}.get(desk, desk)


async def event_of(session: AsyncSession, event_id: int) -> ReportEvent | None:
    return await session.get(ReportEvent, event_id)


async def handoff_card(session: AsyncSession, handoff_id: int) -> HandoffCard | None:
    handoff = await session.get(Handoff, handoff_id)
    if handoff is None:
        return None
    conversation = await session.get(Conversation, handoff.conversation_id)
    rows = (
        await session.scalars(
            select(TranscriptMessage)
            .where(TranscriptMessage.conversation_id == handoff.conversation_id)
            .order_by(TranscriptMessage.id.desc())
            .limit(RECENT_MESSAGES)
        )
    ).all()
    recent = tuple(
        Said(
            "Resident" if r.direction == "in" else "Bot",
            str(r.payload.get("text") or "(a photo or place)"),
            r.created_at,
        )
        for r in reversed(rows)
    )
    number = None
    if handoff.report_id is not None:
        report = await session.get(Report, handoff.report_id)
        number = report.number if report else None
    return HandoffCard(
        id=handoff.id,
        question=handoff.question,
        status=handoff.status,
        held_by=handoff.held_by_name,
        report_number=number,
        conversation=handoff.conversation_id,
        channel=channel_words(conversation.channel) if conversation else "a chat",
        opened_at=handoff.opened_at,
        recent=recent,
        answered=bool(handoff.answer),
    )


async def handoff_answer(session: AsyncSession, handoff_id: int) -> tuple[str, str] | None:
    """(The resident's question, staff's last answer), for saving as an FAQ."""
    handoff = await session.get(Handoff, handoff_id)
    if handoff is None or not handoff.answer:
        return None
    return handoff.question, handoff.answer
