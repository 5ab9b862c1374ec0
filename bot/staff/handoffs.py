"""Handoffs: a resident's conversation passed to city staff, and what staff do with it.

Every function here runs inside the caller's transaction and leaves its messages in the
outbox (to the resident) and its staff events (to the desk), so a reply that staff see as
sent is stored as sent, and a resident is told only what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Later, enqueue
from bot.messages import Outgoing
from bot.models import Conversation, Handoff, Report, Subscription
from bot.staff import events

LIVE = ("open", "held")
NamePolicy = Literal["full", "first", "none"]


class StaffError(Exception):
    """What staff asked cannot be done; the message is for the staff member."""


@dataclass(frozen=True, slots=True)
class StaffMember:
    """Who acted, as the desk knows them: `id` is the desk's ("slack:U0123"), never shown
    to residents; `name` is their name in the workspace."""

    id: str
    name: str

    def shown_to_residents(self, policy: NamePolicy) -> str:
        if policy == "none" or not self.name.strip():
            return "City staff"
        name = self.name.strip() if policy == "full" else self.name.split()[0]
        return f"{name} (city staff)"


def subject_of(handoff: Handoff) -> str:
    return events.handoff_subject(handoff.id, handoff.report_id)


async def current(session: AsyncSession, conversation_id: int, now: datetime) -> Handoff | None:
    """The conversation's live handoff. One whose time ran out (nobody answered or held it
    for HANDOFF_HOURS) is closed here, when it is next looked at: no timer is needed."""
    handoff = await session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(LIVE))
        .order_by(Handoff.id.desc())
        .limit(1)
    )
    if handoff is None:
        return None
    if handoff.expires_at is not None and handoff.expires_at <= now:
        _close(session, handoff, now, change="expired", by=None)
        return None
    return handoff


async def open_handoff(
    session: AsyncSession,
    *,
    conversation_id: int,
    question: str,
    now: datetime,
    lasts: timedelta,
    report_id: int | None = None,
) -> Handoff:
    """Pass the conversation to staff. While one is still open, the question goes to the
    same thread rather than a new one: the engine shows staff every message of a conversation
    they have (`mirror`), this one too, so here it only stays open longer."""
    live = await current(session, conversation_id, now)
    if live is not None:
        live.expires_at = now + lasts if live.status == "open" else live.expires_at
        live.updated_at = now
        return live
    handoff = await _new(session, conversation_id, question, now, lasts, report_id)
    events.tell_staff(session, subject_of(handoff), events.HANDOFF_OPENED, now, handoff_id=handoff.id)
    return handoff


def mirror(
    session: AsyncSession, handoff: Handoff, said: dict[str, Any], replies: list[Outgoing], now: datetime
) -> None:
    """Show staff what the resident said in a handed-off conversation, and what the bot
    answered (nothing, while staff hold it)."""
    events.tell_staff(
        session,
        subject_of(handoff),
        events.RESIDENT_SAID,
        now,
        handoff_id=handoff.id,
        text=str(said.get("text") or ""),
        photos=[p["key"] for p in said.get("photos") or ()],
        location=said.get("location"),
        bot_replies=[r.text[:500] for r in replies[:3]],
    )


async def _live(session: AsyncSession, handoff_id: int, now: datetime) -> Handoff:
    handoff = await session.get(Handoff, handoff_id, with_for_update=_locks(session))
    if handoff is None:
        raise StaffError("That conversation is no longer known.")
    if handoff.status not in LIVE or (handoff.expires_at is not None and handoff.expires_at <= now):
        raise StaffError("That conversation was already handed back to the bot.")
    return handoff


def _locks(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def take_over(
    session: AsyncSession,
    handoff_id: int,
    staff: StaffMember,
    now: datetime,
    *,
    lasts: timedelta,
    policy: NamePolicy,
) -> Handoff:
    """Staff hold the conversation: the bot stays quiet until it is handed back (or until
    HANDOFF_HOURS without a word from staff, so a resident is never left talking to no one)."""
    handoff = await _live(session, handoff_id, now)
    if handoff.status == "held" and handoff.held_by not in (None, staff.id):
        raise StaffError("Another staff member holds this conversation already.")
    handoff.status, handoff.held_by, handoff.held_by_name = "held", staff.id, staff.name[:200]
    handoff.updated_at, handoff.expires_at = now, now + lasts
    events.tell_staff(
        session,
        subject_of(handoff),
        events.HANDOFF_CHANGED,
        now,
        handoff_id=handoff.id,
        change="held",
        by=staff.name,
    )
    conversation = await session.get(Conversation, handoff.conversation_id)
    if conversation is not None:
        name = staff.shown_to_residents(policy)
        enqueue(
            session,
            Later(
                conversation.channel, conversation.address, Outgoing(f"{name} has joined the conversation.")
            ),
            now,
        )
    return handoff


async def hand_back(session: AsyncSession, handoff_id: int, staff: StaffMember, now: datetime) -> Handoff:
    handoff = await _live(session, handoff_id, now)
    was_held = handoff.status == "held"
    _close(session, handoff, now, change="handed_back", by=staff.name)
    conversation = await session.get(Conversation, handoff.conversation_id)
    if conversation is not None and was_held:
        text = "City staff have handed this conversation back to me, the city's assistant. Ask me anything."
        enqueue(session, Later(conversation.channel, conversation.address, Outgoing(text)), now)
    return handoff


def _close(session: AsyncSession, handoff: Handoff, now: datetime, *, change: str, by: str | None) -> None:
    handoff.status, handoff.held_by, handoff.held_by_name = "closed", None, None
    handoff.closed_at = handoff.updated_at = now
    handoff.expires_at = None
    events.tell_staff(
        session, subject_of(handoff), events.HANDOFF_CHANGED, now, handoff_id=handoff.id, change=change, by=by
    )


@dataclass(frozen=True, slots=True)
class Sent:
    handoff: Handoff
    channel: str  # the resident's channel, in words for staff ("webchat", "telegram")


async def reply_to_resident(
    session: AsyncSession,
    *,
    subject: str,
    text: str,
    staff: StaffMember,
    now: datetime,
    lasts: timedelta,
    policy: NamePolicy,
) -> Sent:
    """Send a staff member's words to the resident of a subject (a handoff, or the resident
    who filed a report), and keep the conversation open to staff so the answer comes back."""
    text = text.strip()
    if not text:
        raise StaffError("The reply is empty: nothing was sent.")
    if len(text) > 3000:
        raise StaffError(
            f"The reply is {len(text):,} characters; keep it under 3,000 so it reads well in a chat."
        )
    parsed = events.parse_subject(subject)
    if parsed is None:
        raise StaffError("That message is not a report or a conversation of civic311.")
    kind, number = parsed
    if kind == "handoff":
        handoff = await _live(session, number, now)
    else:
        handoff = await _handoff_for_report(session, number, now, lasts)
    conversation = await session.get(Conversation, handoff.conversation_id)
    if conversation is None:
        raise StaffError("The resident's conversation is gone (they deleted their chat): nothing was sent.")
    who = staff.shown_to_residents(policy)
    message = Outgoing(f"**Message from {who}:**\n{text}\n\nYou can answer here.")
    enqueue(session, Later(conversation.channel, conversation.address, message), now)
    handoff.answer, handoff.updated_at = text, now
    if handoff.status == "open" or handoff.expires_at is not None:
        handoff.expires_at = now + lasts
    events.tell_staff(
        session,
        subject,
        events.STAFF_REPLIED,
        now,
        handoff_id=handoff.id,
        text=text,
        by=staff.name,
        by_id=staff.id,
        shown_as=who,
    )
    return Sent(handoff, conversation.channel)


async def _handoff_for_report(
    session: AsyncSession, report_id: int, now: datetime, lasts: timedelta
) -> Handoff:
    report = await session.get(Report, report_id)
    if report is None:
        raise StaffError("That report is no longer known.")
    filer = await session.scalar(
        select(Subscription)
        .where(
            Subscription.report_id == report.id, Subscription.role == "filer", Subscription.active.is_(True)
        )
        .limit(1)
    )
    if filer is None:
        raise StaffError(
            f"Report {report.number} has no resident to reply to here (it came from {report.source}, "
            "or the resident stopped updates): nothing was sent."
        )
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.channel == filer.channel, Conversation.address == filer.address
        )
    )
    if conversation is None:
        conversation = Conversation(
            channel=filer.channel, address=filer.address, state={}, created_at=now, updated_at=now
        )
        session.add(conversation)
        await session.flush()
    live = await current(session, conversation.id, now)
    if live is not None and live.report_id in (None, report.id):
        if live.report_id is None:
            live.report_id = report.id
        return live
    if live is not None:
        _close(session, live, now, change="replaced", by=None)
    return await _new(session, conversation.id, f"Report {report.number}", now, lasts, report.id)


async def _new(
    session: AsyncSession,
    conversation_id: int,
    question: str,
    now: datetime,
    lasts: timedelta,
    report_id: int | None,
) -> Handoff:
    handoff = Handoff(
        conversation_id=conversation_id,
        report_id=report_id,
        question=question[:4000],
        status="open",
        opened_at=now,
        updated_at=now,
        expires_at=now + lasts,
    )
    session.add(handoff)
    await session.flush()
    return handoff
