"""Questions the bot could not answer, kept for the admins to work through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import upsert_insert
from bot.messages import normalise
from bot.models import UnansweredQuestion

OPEN, ANSWERED, DISMISSED = "open", "answered", "dismissed"


async def record(
    session: AsyncSession, text: str, *, channel: str, now: datetime, guesses: list[dict[str, object]]
) -> None:
    """Count a repeat of the same question rather than listing it twice.

    An upsert, because two processes may record the same new question at once.

    A phrasing an admin ignored stays ignored however often it is asked again (it is still
    counted, so the admin can see it was). A phrasing marked answered that the bot still
    cannot answer opens again: whatever the admin did did not reach residents (the entry
    was deactivated or deleted since, or the search still misses that wording), and the
    inbox is where someone will notice.
    """
    key = normalise(text)[:500] or text[:500]
    insert = upsert_insert(session, UnansweredQuestion).values(
        normalised=key,
        text=text[:4000],
        channel=channel,
        best_guesses=guesses,
        times_asked=1,
        first_asked_at=now,
        last_asked_at=now,
        status=OPEN,
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["normalised"],
            set_={
                "times_asked": UnansweredQuestion.times_asked + 1,
                "last_asked_at": now,
                "best_guesses": guesses,
                "status": case(
                    (UnansweredQuestion.status == DISMISSED, DISMISSED),
                    else_=OPEN,
                ),
            },
        )
    )


async def mark_handed_off(session: AsyncSession, text: str) -> None:
    """The resident whose question the bot could not answer asked for a person: shown in
    the inbox, without counting the question a second time or losing the bot's guesses. A
    plain "talk to a person" was never a question the bot missed, so nothing is recorded."""
    key = normalise(text)[:500] or text[:500]
    row = await session.scalar(select(UnansweredQuestion).where(UnansweredQuestion.normalised == key))
    if row is not None and not any(g.get("handoff") for g in row.best_guesses if isinstance(g, dict)):
        row.best_guesses = [*row.best_guesses, {"handoff": True}]
