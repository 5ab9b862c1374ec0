"""The map from a desk's threads to subjects, the internal notes written in them, and the
platform deliveries already applied; rows, so every process shares them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import upsert_insert
from bot.models import SeenDelivery, StaffNote, StaffThread


async def find(session: AsyncSession, desk: str, subject: str) -> StaffThread | None:
    return await session.scalar(
        select(StaffThread).where(StaffThread.desk == desk, StaffThread.subject == subject)
    )


async def subject_at(session: AsyncSession, desk: str, place: str, ts: str) -> str | None:
    """The subject a thread (its channel and first message) is about, if it is one of ours."""
    return await session.scalar(
        select(StaffThread.subject).where(
            StaffThread.desk == desk, StaffThread.place == place, StaffThread.ts == ts
        )
    )


async def record(session: AsyncSession, desk: str, subject: str, place: str, ts: str, now: datetime) -> None:
    """Where a subject's message was posted. A second post of it (a retry after the first
    post's record was lost) moves the subject to the newer message."""
    await session.execute(
        upsert_insert(session, StaffThread)
        .values(desk=desk, subject=subject, place=place, ts=ts, created_at=now)
        .on_conflict_do_update(index_elements=["desk", "subject"], set_={"place": place, "ts": ts})
    )


async def first_time(session: AsyncSession, key: str, now: datetime) -> bool:
    """Whether this delivery (a platform's event id) is new; it is then on record, in the
    caller's transaction, so a retry after commit is seen."""
    result = await session.execute(
        upsert_insert(session, SeenDelivery)
        .values(key=key[:200], created_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(getattr(result, "rowcount", 0))


def add_note(session: AsyncSession, subject: str, author: str, text: str, now: datetime) -> None:
    session.add(StaffNote(subject=subject, author=author[:200], text=text[:40_000], created_at=now))
