"""Editing knowledge-base entries from the admin pages, with a revision for every save.

Each save is checked as `kb import` checks a file (knowledge.loader), moves the content
revision (every process rebuilds on its next message), keeps the entry's state as a
numbered revision and writes the audit log, all in one transaction.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.content.revision import bump_revision
from bot.messages import normalise
from bot.models import EntryRevision, KnowledgeEntry, ServiceRow, UnansweredQuestion
from knowledge.loader import ContentError, entry_from_mapping
from knowledge.model import Entry

RESERVED_IDS = frozenset({"new", "preview"})  # /admin/kb/new and /admin/kb/preview are pages
FIELDS = ("question", "alternatives", "answer", "links", "tags", "service", "active")
LABELS = {
    "id": "Id",
    "question": "Question",
    "alternatives": "Other phrasings",
    "answer": "Answer",
    "links": "Links",
    "tags": "Tags",
    "service": "Linked service",
    "active": "Active",
}


# A value each field may hold that the loader accepts, to look past one field's problem.
NEUTRAL: dict[str, Any] = {
    "id": "entry",
    "question": "question",
    "alternatives": [],
    "answer": "answer",
    "links": [],
    "tags": [],
    "service": None,
}


@dataclass(slots=True)
class EntryForm:
    """What the editor's fields hold, as typed: kept whole when a save is refused, so
    nothing the admin wrote is lost."""

    id: str = ""
    question: str = ""
    alternatives: str = ""  # one per line
    answer: str = ""
    links: str = ""  # one per line: "Title | https://..."
    tags: str = ""  # comma-separated
    service: str = ""
    active: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: Entry | KnowledgeEntry | dict[str, Any]) -> EntryForm:
        data = snapshot(entry) if not isinstance(entry, dict) else entry
        return cls(
            id=str(data.get("id", "")),
            question=str(data.get("question", "")),
            alternatives="\n".join(data.get("alternatives", [])),
            answer=str(data.get("answer", "")),
            links="\n".join(f"{x['title']} | {x['url']}" for x in data.get("links", [])),
            tags=", ".join(data.get("tags", [])),
            service=str(data.get("service") or ""),
            active=bool(data.get("active", True)),
        )

    def mapping(self) -> dict[str, Any]:
        """The fields as the YAML loader reads an entry, so the same checks apply."""
        links: list[Any] = []
        for line in self.links.splitlines():
            if not line.strip():
                continue
            title, bar, url = line.rpartition("|")
            links.append({"title": title.strip(), "url": url.strip()} if bar else line.strip())
        return {
            "id": self.id.strip(),
            "question": self.question,
            "alternatives": [x for x in self.alternatives.splitlines() if x.strip()],
            "answer": self.answer,
            "links": links,
            "tags": [t for t in (x.strip() for x in self.tags.split(",")) if t],
            "service": self.service.strip() or None,
            "active": self.active,
        }


class FormErrors(Exception):
    def __init__(self, form: EntryForm) -> None:
        super().__init__(form.errors)
        self.form = form


def snapshot(entry: Entry | KnowledgeEntry) -> dict[str, Any]:
    if isinstance(entry, KnowledgeEntry):
        return {
            "id": entry.id,
            "question": entry.question,
            "alternatives": list(entry.alternatives),
            "answer": entry.answer,
            "links": [dict(x) for x in entry.links],
            "tags": list(entry.tags),
            "service": entry.service_code,
            "active": entry.active,
        }
    return {
        "id": entry.id,
        "question": entry.question,
        "alternatives": list(entry.alternatives),
        "answer": entry.answer,
        "links": [{"title": x.title, "url": x.url} for x in entry.links],
        "tags": list(entry.tags),
        "service": entry.service,
        "active": entry.active,
    }


async def check(session: AsyncSession, form: EntryForm, *, creating: bool) -> Entry:
    """The entry the form describes, or FormErrors with a message for each field at fault."""
    form.errors = {}
    mapping = form.mapping()
    entry: Entry | None = None
    # The loader stops at the first problem; a field at fault is set aside and the rest
    # checked again, so every field's message shows at once.
    while entry is None and len(form.errors) < len(NEUTRAL):
        try:
            entry = entry_from_mapping(mapping)
        except ContentError as exc:
            name = exc.field if exc.field in NEUTRAL and exc.field not in form.errors else None
            form.errors[name or "answer"] = _sentence(exc.reason)
            if name is None:
                break
            mapping[name] = NEUTRAL[name]
    if entry is None or form.errors:
        raise FormErrors(form)
    if creating and entry.id in RESERVED_IDS:
        form.errors["id"] = f"'{entry.id}' is a word these pages use for themselves. Choose another id."
    elif creating and await session.get(KnowledgeEntry, entry.id) is not None:
        form.errors["id"] = f"There is already an entry '{entry.id}'. Choose another id."
    if entry.service and await session.get(ServiceRow, entry.service) is None:
        form.errors["service"] = f"There is no service '{entry.service}' in the catalogue."
    clash = await _phrasing_elsewhere(session, entry)
    if clash:
        phrasing, other = clash
        form.errors["alternatives"] = f"“{phrasing}” is already a phrasing of entry '{other}'."
    if form.errors:
        raise FormErrors(form)
    return entry


async def _phrasing_elsewhere(session: AsyncSession, entry: Entry) -> tuple[str, str] | None:
    """A phrasing that another active entry already has: the bot could not tell them apart."""
    mine = {normalise(p): p for p in entry.phrasings()}
    rows = (
        await session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.alternatives).where(
                KnowledgeEntry.id != entry.id, KnowledgeEntry.active.is_(True)
            )
        )
    ).all()
    for other_id, question, alternatives in rows:
        for phrasing in (question, *alternatives):
            if normalise(phrasing) in mine:
                return mine[normalise(phrasing)], other_id
    return None


def _sentence(reason: str) -> str:
    for key, label in LABELS.items():
        reason = reason.replace(f"'{key}'", label)
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


async def _next_number(session: AsyncSession, entry_id: str) -> int:
    top = await session.scalar(
        select(func.max(EntryRevision.number)).where(EntryRevision.entry_id == entry_id)
    )
    return int(top or 0) + 1


async def keep_revision(
    session: AsyncSession, entry_id: str, state: dict[str, Any], action: str, author: str, now: datetime
) -> int:
    number = await _next_number(session, entry_id)
    session.add(
        EntryRevision(entry_id=entry_id, number=number, action=action, snapshot=state, author=author, at=now)
    )
    return number


async def first_revision(session: AsyncSession, row: KnowledgeEntry) -> None:
    """An entry that came from `kb import` or a staff answer has no revision yet: keep what it
    was before its first edit in the pages, so that edit can be undone too."""
    if await _next_number(session, row.id) == 1:
        await keep_revision(session, row.id, snapshot(row), "imported", row.author or "", row.updated_at)


def _apply(row: KnowledgeEntry, entry: Entry, author: str, now: datetime) -> None:
    row.question, row.answer = entry.question, entry.answer
    row.alternatives, row.tags = list(entry.alternatives), list(entry.tags)
    row.links = [{"title": x.title, "url": x.url} for x in entry.links]
    row.service_code, row.active = entry.service, entry.active
    row.updated_at, row.author = now, author[:200]


async def create(
    session: AsyncSession, form: EntryForm, *, author: str, now: datetime, from_unanswered: int | None = None
) -> Entry:
    entry = await check(session, form, creating=True)
    row = KnowledgeEntry(id=entry.id, question="", answer="", alternatives=[], tags=[], links=[])
    _apply(row, entry, author, now)
    session.add(row)
    number = await keep_revision(session, entry.id, snapshot(entry), "created", author, now)
    if from_unanswered is not None:
        await mark_answered(session, from_unanswered)
    audit.record(session, author, "entry.create", entry.id, now=now, revision=number)
    await bump_revision(session)
    return entry


async def update(
    session: AsyncSession, entry_id: str, form: EntryForm, *, author: str, now: datetime
) -> bool:
    """False when nothing changed (no revision, no audit row, nothing rebuilt)."""
    row = await _row(session, entry_id)
    form.id = entry_id
    entry = await check(session, form, creating=False)
    before = snapshot(row)
    if snapshot(entry) == before:
        return False
    await first_revision(session, row)
    _apply(row, entry, author, now)
    number = await keep_revision(session, entry_id, snapshot(entry), "edited", author, now)
    audit.record(
        session,
        author,
        "entry.edit",
        entry_id,
        now=now,
        revision=number,
        fields=_changed(before, snapshot(entry)),
    )
    await bump_revision(session)
    return True


async def set_active(
    session: AsyncSession, entry_id: str, active: bool, *, author: str, now: datetime
) -> None:
    row = await _row(session, entry_id)
    if row.active == active:
        return
    await first_revision(session, row)
    row.active, row.updated_at, row.author = active, now, author[:200]
    action = "activated" if active else "deactivated"
    number = await keep_revision(session, entry_id, snapshot(row), action, author, now)
    audit.record(session, author, f"entry.{action[:-1]}", entry_id, now=now, revision=number)
    await bump_revision(session)


async def delete(session: AsyncSession, entry_id: str, *, author: str, now: datetime) -> None:
    """The entry goes; its revisions stay, so its history page can bring it back."""
    row = await _row(session, entry_id)
    await first_revision(session, row)
    number = await keep_revision(session, entry_id, snapshot(row), "deleted", author, now)
    await session.delete(row)
    audit.record(session, author, "entry.delete", entry_id, now=now, revision=number)
    await bump_revision(session)


async def restore(session: AsyncSession, entry_id: str, number: int, *, author: str, now: datetime) -> int:
    """Make revision `number` current again, as a new revision (history is never rewritten).
    A deleted entry comes back."""
    old = await session.scalar(
        select(EntryRevision).where(EntryRevision.entry_id == entry_id, EntryRevision.number == number)
    )
    if old is None:
        raise LookupError(f"entry '{entry_id}' has no revision {number}")
    form = EntryForm.of(old.snapshot)
    row = await session.get(KnowledgeEntry, entry_id)
    entry = await check(session, form, creating=row is None)
    if row is None:
        row = KnowledgeEntry(id=entry_id, question="", answer="", alternatives=[], tags=[], links=[])
        session.add(row)
    else:
        await first_revision(session, row)
    _apply(row, entry, author, now)
    new = await keep_revision(session, entry_id, snapshot(entry), f"restored {number}", author, now)
    audit.record(session, author, "entry.restore", entry_id, now=now, revision=new, restored=number)
    await bump_revision(session)
    return new


async def _row(session: AsyncSession, entry_id: str) -> KnowledgeEntry:
    row = await session.get(KnowledgeEntry, entry_id)
    if row is None:
        raise LookupError(f"there is no entry '{entry_id}'")
    return row


async def mark_answered(session: AsyncSession, unanswered_id: int) -> None:
    row = await session.get(UnansweredQuestion, unanswered_id)
    if row is not None:
        row.status = "answered"


async def revisions(session: AsyncSession, entry_id: str) -> list[EntryRevision]:
    query = (
        select(EntryRevision).where(EntryRevision.entry_id == entry_id).order_by(EntryRevision.number.desc())
    )
    return list((await session.scalars(query)).all())


async def search(session: AsyncSession, words: str, *, limit: int = 500) -> list[KnowledgeEntry]:
    """Entries whose id, question, phrasings, answer or tags hold every word typed."""
    query = select(KnowledgeEntry).order_by(KnowledgeEntry.active.desc(), KnowledgeEntry.question)
    rows = list((await session.scalars(query)).all())
    terms = [normalise(w) for w in words.split() if normalise(w)]
    if not terms:
        return rows[:limit]

    def haystack(row: KnowledgeEntry) -> str:
        return normalise(" ".join([row.id, row.question, *row.alternatives, row.answer, *row.tags]))

    return [r for r in rows if all(t in haystack(r) for t in terms)][:limit]


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    label: str
    lines: list[tuple[str, str]]  # (" ", "+", "-"), text


def _as_lines(state: dict[str, Any], name: str) -> list[str]:
    value = state.get(name)
    if name == "links":
        return [f"{x['title']} | {x['url']}" for x in value or []]
    if isinstance(value, list):
        return [str(x) for x in value]
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    return str(value or "").splitlines()


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldDiff]:
    """Line by line, per field, what changed from one revision to the next."""
    out = []
    for name in FIELDS:
        old, new = _as_lines(before, name), _as_lines(after, name)
        if old == new:
            continue
        lines = [(line[0], line[2:]) for line in difflib.ndiff(old, new) if line[:1] in (" ", "+", "-")]
        out.append(FieldDiff(name, LABELS[name], lines))
    return out


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in FIELDS if before.get(name) != after.get(name)]
