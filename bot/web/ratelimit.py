"""A fixed-window rate limit kept in the database, so it holds across processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.models import RateCounter
from bot.settings import Settings
from bot.timeutil import utcnow


async def hit(
    db: Database, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> float | None:
    """Count one event for `key`; None if allowed, else seconds until it will be."""
    moment = now or utcnow()

    async def count(session: AsyncSession) -> float | None:
        now = moment
        await session.execute(
            db.insert(RateCounter)
            .values(key=key, window_start=now, count=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        query = select(RateCounter).where(RateCounter.key == key)
        if db.supports_row_locks:
            query = query.with_for_update()
        row = (await session.execute(query)).scalar_one()
        if now - row.window_start >= window:
            row.window_start, row.count = now, 0
        if row.count >= limit:
            return max(1.0, (row.window_start + window - now).total_seconds())
        row.count += 1
        return None

    return await db.run(count)


async def chat_message(db: Database, settings: Settings, channel: str, address: str) -> float | None:
    """Count one message of a conversation against CHAT_RATE_LIMIT_PER_MINUTE, the same for
    every channel; None if allowed, else seconds until it will be."""
    return await hit(
        db, f"{channel}:{address}", limit=settings.CHAT_RATE_LIMIT_PER_MINUTE, window=timedelta(minutes=1)
    )
