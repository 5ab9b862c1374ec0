"""The regression set: questions admins want answered the same way after every change.

Each run keeps what the bot made of every question and what it made of it before the last
change, so the test box can show what a change moved, and which questions no longer get
what the admin expected. A run stamps its results with the content revision it asked on:
running the set again with nothing changed refreshes the results but keeps "before" as
it was, so pressing "Run again" does not wipe what the last change moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.ask import Asker
from bot.content.revision import revision
from bot.hub import Hub
from bot.models import KnowledgeEntry, RegressionQuestion, ServiceRow
from bot.timeutil import utcnow

MAX_QUESTIONS = 200  # each run asks every one; the set is a check, not a test suite
MAX_TEXT = 500
REVISION = "revision"  # the key, in a stored result, of the content revision it was asked on

# What the bot may make of a question besides an entry or a report (`Asker.ask`'s intents).
INTENTS = (
    ("fallback", "Not understood (fallback)"),
    ("emergency", "Emergency: tells them to call 911"),
    ("status", "A report's status"),
    ("human", "Asks for a person"),
    ("smalltalk", "Small talk"),
)


class RegressionError(ValueError):
    """What is wrong, for the field it is about: "text" or "expected"."""

    def __init__(self, message: str, field: str = "text") -> None:
        super().__init__(message)
        self.field = field


def verdict(answer: dict[str, Any]) -> str:
    """What the bot made of a question, as one comparable word: "faq:ID", "report:CODE",
    or the intent."""
    if answer.get("entry"):
        return f"faq:{answer['entry']}"
    if answer.get("service"):
        return f"report:{answer['service']}"
    return str(answer.get("intent", ""))


@dataclass(frozen=True, slots=True)
class Outcome:
    question: RegressionQuestion

    @property
    def now(self) -> str:
        return verdict(self.question.last_result) if self.question.last_result else ""

    @property
    def before(self) -> str:
        return verdict(self.question.previous_result) if self.question.previous_result else ""

    @property
    def changed(self) -> bool:
        return bool(self.before) and self.before != self.now

    @property
    def as_expected(self) -> bool | None:
        return None if not self.question.expected else self.now == self.question.expected

    @property
    def no_longer(self) -> bool:
        """It gave what was expected before the last change, and does not now."""
        return bool(self.question.expected) and self.before == self.question.expected != self.now


async def everything(session: AsyncSession) -> list[Outcome]:
    rows = (await session.scalars(select(RegressionQuestion).order_by(RegressionQuestion.id))).all()
    return [Outcome(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Choices:
    """What an admin may expect, as the select groups them, with a label for every verdict."""

    groups: list[tuple[str, list[tuple[str, str]]]]

    @property
    def labels(self) -> dict[str, str]:
        return {value: label for _, options in self.groups for value, label in options}


async def choices(session: AsyncSession) -> Choices:
    found = await session.execute(
        select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.active).order_by(
            KnowledgeEntry.question
        )
    )
    faq = [
        (f"faq:{entry_id}", f"{question} ({entry_id}){'' if active else ', inactive'}")
        for entry_id, question, active in found.all()
    ]
    services = await session.execute(select(ServiceRow.code, ServiceRow.name).order_by(ServiceRow.name))
    report = [(f"report:{code}", f"Report: {name} ({code})") for code, name in services.all()]
    return Choices(
        [("What the bot does", list(INTENTS)), ("Answers with the entry", faq), ("Files a report", report)]
    )


async def add(session: AsyncSession, text: str, expected: str, *, actor: str, now: datetime) -> int:
    """Returns the new question's id; `refresh` asks it."""
    text, expected = " ".join(text.split()), expected.strip()
    if not text:
        raise RegressionError("Write the question as a resident would ask it.")
    if len(text) > MAX_TEXT:
        raise RegressionError(f"Keep the question under {MAX_TEXT} characters.")
    if expected and expected not in (await choices(session)).labels:
        raise RegressionError("Choose what the bot should make of it from the list.", "expected")
    if await session.scalar(select(RegressionQuestion.id).where(RegressionQuestion.text == text)):
        raise RegressionError("That question is in the set already.")
    count = int(await session.scalar(select(func.count()).select_from(RegressionQuestion)) or 0)
    if count >= MAX_QUESTIONS:
        raise RegressionError(f"The set holds at most {MAX_QUESTIONS} questions. Remove one first.")
    row = RegressionQuestion(text=text, expected=expected, created_at=now)
    session.add(row)
    await session.flush()
    audit.record(session, actor, "regression.add", text[:200], now=now, expected=expected)
    return row.id


async def remove(session: AsyncSession, question_id: int, *, actor: str, now: datetime) -> bool:
    row = await session.get(RegressionQuestion, question_id)
    if row is None:
        return False
    audit.record(session, actor, "regression.remove", row.text[:200], now=now)
    await session.delete(row)
    return True


async def rerun(hub: Hub, only: int | None = None) -> list[Outcome]:
    """Ask every question (or the one `only`) again as the bot stands now; returns those
    whose answer differs from what it was before the last change. The asking happens
    outside the transaction that stores the results: each `ask` is a rolled-back turn
    of its own."""
    async with hub.db.transaction() as session:
        query = select(RegressionQuestion.id, RegressionQuestion.text)
        if only is not None:
            query = query.where(RegressionQuestion.id == only)
        questions = [(qid, text) for qid, text in (await session.execute(query)).all()]
        asked_on = await revision(session)
    if not questions:
        return []
    asker = Asker(hub)
    results = {qid: {**await asker.ask(text), REVISION: asked_on} for qid, text in questions}
    now = utcnow()
    moved: list[Outcome] = []
    async with hub.db.transaction() as session:
        for qid, answer in results.items():
            row = await session.get(RegressionQuestion, qid)
            if row is None:  # removed meanwhile
                continue
            if row.last_result and row.last_result.get(REVISION) != asked_on:
                row.previous_result = row.last_result  # a change since: the last result is "before"
            row.last_result, row.last_run_at = answer, now
            outcome = Outcome(row)
            if outcome.changed:
                moved.append(outcome)
    return moved
