"""Knowledge base entries and synonyms, as plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
MAX_ANSWER_CHARS = 1200


@dataclass(frozen=True, slots=True)
class EntryLink:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    links: tuple[EntryLink, ...] = ()
    service: str | None = None
    active: bool = True
    updated_at: datetime | None = None
    author: str | None = None

    def phrasings(self) -> tuple[str, ...]:
        """The ways residents ask for this entry: what semantic search compares with."""
        return (self.question, *self.alternatives)

    def search_text(self) -> str:
        return " ".join([self.question, *self.alternatives, *self.tags, self.answer])


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    synonyms: tuple[tuple[str, ...], ...] = field(default=())

    def active(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.active)

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)
