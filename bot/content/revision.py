"""One counter bumped by every edit of the knowledge base or the service catalogue, so
each process can tell cheaply, once per message, whether what it built from them is stale."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import KnowledgeRevision


async def revision(session: AsyncSession) -> int:
    value = await session.scalar(select(KnowledgeRevision.revision).where(KnowledgeRevision.id == 1))
    return int(value or 0)


async def bump_revision(session: AsyncSession) -> None:
    result = await session.execute(
        update(KnowledgeRevision)
        .where(KnowledgeRevision.id == 1)
        .values(revision=KnowledgeRevision.revision + 1)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(KnowledgeRevision(id=1, revision=1))
