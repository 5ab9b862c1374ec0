"""A staff member's answer to a question the bot could not answer, saved as knowledge:
a new entry, or a new phrasing of an entry that already says it. The next resident who
asks gets it (the revision moves, and every process rebuilds on its next message)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.revision import bump_revision
from bot.messages import normalise
from bot.models import KnowledgeEntry, UnansweredQuestion

MAX_QUESTION = 500
MAX_ANSWER = 4000
STAFF_TAG = "from-staff"


class AnswerError(ValueError):
    """What is wrong with the entry, said for the field it is about: `field` is "question",
    "answer" or "entry"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


async def save_answer(
    session: AsyncSession,
    *,
    question: str,
    answer: str,
    author: str,
    now: datetime,
    entry_id: str | None = None,
) -> str:
    """Returns the id of the entry that now answers the question."""
    question, answer = question.strip(), answer.strip()
    if not question:
        raise AnswerError("question", "Write the question as a resident would ask it.")
    if len(question) > MAX_QUESTION:
        raise AnswerError("question", f"Keep the question under {MAX_QUESTION} characters.")
    if entry_id:
        entry = await session.get(KnowledgeEntry, entry_id)
        if entry is None:
            raise AnswerError("entry", f"There is no entry '{entry_id}' any more.")
        said = {normalise(p) for p in (entry.question, *entry.alternatives)}
        if normalise(question) not in said:
            entry.alternatives = [*entry.alternatives, question]
            entry.updated_at, entry.author = now, author[:200]
    else:
        if not answer:
            raise AnswerError("answer", "Write the answer residents should get.")
        if len(answer) > MAX_ANSWER:
            raise AnswerError("answer", f"Keep the answer under {MAX_ANSWER:,} characters.")
        entry_id = await _free_id(session, question)
        session.add(
            KnowledgeEntry(
                id=entry_id,
                question=question,
                alternatives=[],
                answer=answer,
                tags=[STAFF_TAG],
                links=[],
                service_code=None,
                active=True,
                updated_at=now,
                author=author[:200],
            )
        )
    await session.execute(
        update(UnansweredQuestion)
        .where(UnansweredQuestion.normalised == (normalise(question)[:500] or question[:500]))
        .values(status="answered")
    )
    await bump_revision(session)
    return entry_id


async def _free_id(session: AsyncSession, question: str) -> str:
    base = "-".join(re.findall(r"[a-z0-9]+", normalise(question)))[:60].strip("-") or "staff-answer"
    taken = set(
        (await session.scalars(select(KnowledgeEntry.id).where(KnowledgeEntry.id.like(f"{base}%")))).all()
    )
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
