"""The audit log: one row per change, written in the change's own transaction, so the log
never claims a change that was rolled back nor misses one that was kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import AuditEntry


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    subject: str = "",
    *,
    now: datetime,
    **detail: Any,
) -> None:
    session.add(AuditEntry(at=now, actor=actor[:254], action=action, subject=subject[:200], detail=detail))


async def page(session: AsyncSession, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list((await session.scalars(query)).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
