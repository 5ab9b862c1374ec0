"""The unanswered inbox: what residents asked that the bot could not answer, grouped by
similar phrasing, and what an admin does with a group (add its phrasings to an entry,
or ignore it).

Grouping compares content words (stop words dropped, stemmed: "when's the pool open" and
"when is the pool open" are the same two words), scored as the mean of rapidfuzz's
token-set and token-sort ratios. Token-set alone calls any subset a perfect match, so
"parking" would swallow every question that mentions parking; token-sort alone splits
"when is the pool open" from "... on sunday". Their mean keeps both apart and together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit, entries
from bot.content import staff_answers
from bot.content.unanswered import ANSWERED, DISMISSED, OPEN
from bot.messages import normalise
from bot.models import KnowledgeEntry, UnansweredQuestion
from knowledge.text import terms

MAX_ROWS = 1000  # the most recent open questions grouped: a page, not an archive
SIMILAR_AT = 85  # 0..100: the mean of token-set and token-sort ratios on content words
MAX_GUESSES = 3


class InboxError(ValueError):
    """What is wrong with an action, for the field it is about ("entry" or "phrasings")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Asked:
    """One stored phrasing, read out of its session."""

    id: int
    text: str
    channel: str
    times_asked: int
    first_asked_at: datetime
    last_asked_at: datetime
    guesses: tuple[dict[str, Any], ...]
    normalised: str

    @classmethod
    def of(cls, row: UnansweredQuestion) -> Asked:
        guesses = tuple(g for g in (row.best_guesses or []) if isinstance(g, dict))
        return cls(
            row.id,
            row.text,
            row.channel,
            row.times_asked,
            row.first_asked_at,
            row.last_asked_at,
            guesses,
            row.normalised,
        )


@dataclass(frozen=True, slots=True)
class Guess:
    entry_id: str
    score: float
    question: str | None  # None: the entry is gone
    active: bool


@dataclass(slots=True)
class Group:
    representative: Asked  # the most asked phrasing of the group
    others: list[Asked] = field(default_factory=list)
    guesses: list[Guess] = field(default_factory=list)

    @property
    def rows(self) -> list[Asked]:
        return [self.representative, *self.others]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]

    @property
    def count(self) -> int:
        return sum(r.times_asked for r in self.rows)

    @property
    def channels(self) -> list[str]:
        return sorted({r.channel for r in self.rows})

    @property
    def last_asked_at(self) -> datetime:
        return max(r.last_asked_at for r in self.rows)

    @property
    def first_asked_at(self) -> datetime:
        return min(r.first_asked_at for r in self.rows)

    @property
    def handed_off(self) -> bool:
        """A resident asked for a person with one of these phrasings."""
        return any(g.get("handoff") for r in self.rows for g in r.guesses)

    @property
    def best_guess(self) -> str:
        live = [g for g in self.guesses if g.question is not None and g.active]
        return live[0].entry_id if live else ""


@dataclass(frozen=True, slots=True)
class Inbox:
    total: int  # every question with this status, not only those grouped
    considered: int  # how many of them were grouped (at most MAX_ROWS)
    groups: list[Group]


def _sorted_words(text: str) -> str:
    """Content words, sorted: "when's the pool open" and "pool open when" meet."""
    return " ".join(sorted((" ".join(terms(text)) or normalise(text)).split()))


def group(rows: Sequence[Asked], *, threshold: float = SIMILAR_AT) -> list[Group]:
    """Greedy: the most asked phrasing not yet in a group starts one, and takes every other
    ungrouped phrasing close enough to it. Groups come most asked first, then most recent.

    Token-sort is a plain ratio of the sorted words: one C call scores every pair at once.
    Token-set tokenises each pair anew (3 s for all pairs of 1,000), so it is computed only
    where a group is being formed and only for pairs that can still reach the threshold:
    a mean of two scores of at most 100 needs each of them at least `2 * threshold - 100`.
    """
    order = sorted(rows, key=lambda r: (r.times_asked, r.last_asked_at), reverse=True)
    if not order:
        return []
    keys = [_sorted_words(r.text) for r in order]
    as_sorted = process.cdist(keys, keys, scorer=fuzz.ratio, dtype=np.float32)
    reachable = as_sorted >= 2 * threshold - 100
    taken = np.zeros(len(order), dtype=bool)
    groups = []
    for i, row in enumerate(order):
        if taken[i]:
            continue
        taken[i] = True
        members = []
        for j in np.flatnonzero(reachable[i] & ~taken):
            if (fuzz.token_set_ratio(keys[i], keys[j]) + as_sorted[i, j]) / 2 >= threshold:
                members.append(order[j])
                taken[j] = True
        groups.append(Group(row, members))
    groups.sort(key=lambda g: (g.count, g.last_asked_at), reverse=True)
    return groups


async def load(session: AsyncSession, *, status: str = OPEN, limit: int = MAX_ROWS) -> Inbox:
    total = int(
        await session.scalar(
            select(func.count()).select_from(UnansweredQuestion).where(UnansweredQuestion.status == status)
        )
        or 0
    )
    query = (
        select(UnansweredQuestion)
        .where(UnansweredQuestion.status == status)
        .order_by(UnansweredQuestion.last_asked_at.desc(), UnansweredQuestion.id.desc())
        .limit(limit)
    )
    rows = [Asked.of(r) for r in (await session.scalars(query)).all()]
    groups = await asyncio.to_thread(group, rows)  # 0.15 s for 1,000: not on the event loop
    await _name_guesses(session, groups)
    return Inbox(total, len(rows), groups)


async def _name_guesses(session: AsyncSession, groups: list[Group]) -> None:
    """Each group's best guesses: the entries the search came closest with, by their best
    score over the group's phrasings, with the entries' questions as they are now."""
    best: list[dict[str, float]] = []
    for g in groups:
        scores: dict[str, float] = {}
        for r in g.rows:
            for guess in r.guesses:
                entry_id, score = guess.get("entry"), guess.get("score")
                if isinstance(entry_id, str) and isinstance(score, int | float):
                    scores[entry_id] = max(scores.get(entry_id, 0.0), float(score))
        best.append(scores)
    wanted = {e for scores in best for e in scores}
    known: dict[str, tuple[str, bool]] = {}
    if wanted:
        found = await session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.active).where(
                KnowledgeEntry.id.in_(wanted)
            )
        )
        known = {entry_id: (question, active) for entry_id, question, active in found.all()}
    for g, scores in zip(groups, best, strict=True):
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:MAX_GUESSES]
        g.guesses = [
            Guess(e, s, known[e][0] if e in known else None, known[e][1] if e in known else False)
            for e, s in ranked
        ]


async def _rows(session: AsyncSession, ids: Sequence[int], status: str) -> list[UnansweredQuestion]:
    if not ids:
        return []
    query = (
        select(UnansweredQuestion)
        .where(UnansweredQuestion.id.in_(list(ids)[:MAX_ROWS]), UnansweredQuestion.status == status)
        .order_by(UnansweredQuestion.times_asked.desc(), UnansweredQuestion.id)
    )
    return list((await session.scalars(query)).all())


async def _phrasing_elsewhere(
    session: AsyncSession, entry_id: str, texts: list[str]
) -> tuple[str, str] | None:
    """A phrasing another active entry has already: the editor refuses such a save (the bot
    could not tell the two apart), so the inbox must not make one either."""
    mine = {normalise(t): t for t in texts}
    found = await session.execute(
        select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.alternatives).where(
            KnowledgeEntry.id != entry_id, KnowledgeEntry.active.is_(True)
        )
    )
    for other, question, alternatives in found.all():
        for phrasing in (question, *alternatives):
            if normalise(phrasing) in mine:
                return mine[normalise(phrasing)], other
    return None


async def add_phrasings(
    session: AsyncSession, ids: Sequence[int], entry_id: str, *, actor: str, now: datetime
) -> list[str]:
    """Add the chosen phrasings of a group to an entry, and mark them answered.

    Only the phrasings the admin ticked are added and marked: one left unticked was judged
    another question, so it stays in the inbox. Returns the phrasings added."""
    entry_id = entry_id.strip()
    if not entry_id:
        raise InboxError("entry", "Choose the entry that answers this question.")
    entry = await session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise InboxError("entry", f"There is no entry '{entry_id[:100]}'. Check the id, or create an entry.")
    if not entry.active:
        raise InboxError(
            "entry",
            f"Entry '{entry_id}' is inactive, so residents would still get no answer. Activate it first.",
        )
    if not ids:
        raise InboxError("phrasings", "Tick at least one phrasing to add.")
    rows = await _rows(session, ids, OPEN)
    if not rows:
        raise InboxError("phrasings", "Someone dealt with these questions meanwhile.")
    too_long = next((r for r in rows if len(r.text.strip()) > staff_answers.MAX_QUESTION), None)
    if too_long is not None:
        raise InboxError(
            "phrasings",
            f"“{too_long.text[:60]}…” is longer than {staff_answers.MAX_QUESTION} characters: "
            "untick it, or create an entry from it.",
        )
    clash = await _phrasing_elsewhere(session, entry_id, [r.text for r in rows])
    if clash:
        raise InboxError("phrasings", f"“{clash[0]}” is already a phrasing of entry '{clash[1]}'.")
    await entries.first_revision(session, entry)
    before = list(entry.alternatives)
    for row in rows:
        await staff_answers.save_answer(
            session, question=row.text, answer="", author=actor, now=now, entry_id=entry_id
        )
        row.status = ANSWERED  # save_answer marks by normalised text: this row even if that was cut short
    added = [p for p in entry.alternatives if p not in before]
    if added:
        number = await entries.keep_revision(
            session, entry_id, entries.snapshot(entry), "phrasing added from the inbox", actor, now
        )
    else:
        number = None
    audit.record(
        session,
        actor,
        "inbox.phrasing",
        entry_id,
        now=now,
        phrasings=[r.text[:200] for r in rows],
        added=len(added),
        revision=number,
    )
    return added


async def ignore(session: AsyncSession, ids: Sequence[int], *, actor: str, now: datetime) -> int:
    """Dismiss every phrasing of a group; asked again, they stay dismissed
    (`unanswered.record`). Returns how many were open."""
    rows = await _rows(session, ids, OPEN)
    if not rows:
        return 0
    await session.execute(
        update(UnansweredQuestion)
        .where(UnansweredQuestion.id.in_([r.id for r in rows]))
        .values(status=DISMISSED)
    )
    audit.record(session, actor, "inbox.ignore", rows[0].text[:200], now=now, ids=[r.id for r in rows])
    return len(rows)


async def reopen(session: AsyncSession, ids: Sequence[int], *, actor: str, now: datetime) -> int:
    """Bring ignored phrasings back: an "Ignore" pressed by mistake is not for ever."""
    rows = await _rows(session, ids, DISMISSED)
    if not rows:
        return 0
    await session.execute(
        update(UnansweredQuestion).where(UnansweredQuestion.id.in_([r.id for r in rows])).values(status=OPEN)
    )
    audit.record(session, actor, "inbox.reopen", rows[0].text[:200], now=now, ids=[r.id for r in rows])
    return len(rows)
