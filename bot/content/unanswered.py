"""Questions the bot could not answer, kept for the admins to work through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import upsert_insert
from bot.messages import normalise
from bot.models import UnansweredQuestion


async def record(
    session: AsyncSession, text: str, *, channel: str, now: datetime, guesses: list[dict[str, object]]
) -> None:
    """Count a repeat of the same question rather than listing it twice.

    An upsert, because two processes may record the same new question at once.
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
        status="open",
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["normalised"],
            set_={
                "times_asked": UnansweredQuestion.times_asked + 1,
                "last_asked_at": now,
                "best_guesses": guesses,
                "status": "open",
            },
        )
    )
