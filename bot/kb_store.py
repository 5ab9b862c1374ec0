"""The knowledge base in the database, and each process's search index over it.

The index is a cache of database rows, checked against one revision counter
on every message: an edit made through any process (admin page, `kb import`)
is seen by the next question everywhere, without a restart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import catalogue_store
from bot.db import is_read_only, upsert_insert
from bot.models import KnowledgeEntry, PhrasingVector, SynonymGroup
from bot.revision import bump_revision, revision
from bot.timeutil import utcnow
from knowledge.embeddings import Embedder, load_default, text_key
from knowledge.loader import (
    SAMPLE_DIR,
    TRIAGE_FILE,
    load_triage_examples,
)
from knowledge.model import Entry, EntryLink, KnowledgeBase
from knowledge.triage import TriageExamples
from knowledge.understand import Understander


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    synonym_groups: int


def _to_entry(row: KnowledgeEntry) -> Entry:
    return Entry(
        id=row.id,
        question=row.question,
        answer=row.answer,
        alternatives=tuple(row.alternatives),
        tags=tuple(row.tags),
        links=tuple(EntryLink(x["title"], x["url"]) for x in row.links),
        service=row.service_code,
        active=row.active,
        updated_at=row.updated_at,
        author=row.author,
    )


async def load(session: AsyncSession) -> KnowledgeBase:
    rows = (await session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id))).all()
    groups = (await session.scalars(select(SynonymGroup).order_by(SynonymGroup.id))).all()
    return KnowledgeBase(tuple(_to_entry(r) for r in rows), tuple(tuple(g.terms) for g in groups))


async def import_kb(session: AsyncSession, kb: KnowledgeBase, *, author: str | None = None) -> ImportResult:
    """Upsert every entry of `kb` by id and replace the synonym list.

    Entries the file does not mention are kept: a partial file must not wipe
    what admins wrote in the pages.
    """
    now = utcnow()
    existing = {r.id: r for r in (await session.scalars(select(KnowledgeEntry))).all()}
    added = updated = unchanged = 0
    for entry in kb.entries:
        values = {
            "question": entry.question,
            "answer": entry.answer,
            "alternatives": list(entry.alternatives),
            "tags": list(entry.tags),
            "links": [{"title": x.title, "url": x.url} for x in entry.links],
            "service_code": entry.service,
            "active": entry.active,
        }
        row = existing.get(entry.id)
        if row is None:
            session.add(KnowledgeEntry(id=entry.id, updated_at=now, author=entry.author or author, **values))
            added += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at, row.author = now, entry.author or author
            updated += 1
        else:
            unchanged += 1
    await session.execute(delete(SynonymGroup))
    session.add_all(SynonymGroup(terms=list(g)) for g in kb.synonyms)
    await bump_revision(session)
    return ImportResult(added, updated, unchanged, len(kb.synonyms))


async def load_vectors(session: AsyncSession) -> dict[str, np.ndarray]:
    rows = await session.execute(select(PhrasingVector.key, PhrasingVector.vector))
    return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows.all()}


async def save_vectors(session: AsyncSession, vectors: dict[str, np.ndarray]) -> None:
    """Store new vectors in one statement (executemany); another process may have stored
    some of them meanwhile, which is fine: a vector is a pure function of its key."""
    if not vectors:
        return
    rows = [{"key": k, "vector": np.asarray(v, dtype=np.float32).tobytes()} for k, v in vectors.items()]
    await session.execute(
        upsert_insert(session, PhrasingVector).on_conflict_do_nothing(index_elements=["key"]), rows
    )


async def is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(KnowledgeEntry.id).limit(1)) is None


_VECTOR_MEMO: dict[str, np.ndarray] = {}
_VECTOR_MEMO_MAX = 200_000  # about 300 MB at 384 float32s; beyond that, read from the database


class KnowledgeCache:
    """Per-process understander (knowledge base and service catalogue), rebuilt when
    the database revision moves."""

    def __init__(self, *, embedder: Callable[[], Embedder | None] = load_default) -> None:
        self._embedder = embedder
        self._triage_examples = sample_triage_examples()
        self._revision: int | None = None
        self._understander: Understander | None = None
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession) -> Understander:
        rev = await revision(session)
        if self._understander is not None and rev == self._revision:
            return self._understander
        async with self._lock:
            if self._understander is None or rev != self._revision:
                kb = await load(session)
                catalogue = await catalogue_store.load(session)
                vectors = await load_vectors(session)
                known = set(vectors)
                # Vectors are a pure function of (model, text): reuse what this process
                # already computed for another database or an earlier revision.
                vectors.update({k: v for k, v in _VECTOR_MEMO.items() if k not in vectors})
                embedder = await asyncio.to_thread(self._embedder)
                # Building the index is CPU work; keep the event loop answering meanwhile.
                self._understander = await asyncio.to_thread(
                    Understander,
                    kb,
                    catalogue,
                    embedder=embedder,
                    vectors=vectors,
                    triage_examples=self._triage_examples,
                )
                needed = {text_key(p) for e in kb.active() for p in e.phrasings()}
                needed |= {text_key(t) for t in self._triage_examples.texts()}
                # A read-only session (Open311 GETs, history) must not write: on SQLite that
                # would need the write lock mid-transaction. The vectors stay in this process's
                # memo, and any later rebuild in a writing session stores them.
                if not is_read_only(session):
                    await save_vectors(
                        session, {k: v for k, v in vectors.items() if k in needed and k not in known}
                    )
                if len(_VECTOR_MEMO) < _VECTOR_MEMO_MAX:
                    _VECTOR_MEMO.update(vectors)
                self._revision = rev
        return self._understander


@functools.cache
def sample_triage_examples(directory: Path = SAMPLE_DIR) -> TriageExamples:
    """The bundled examples, read once per process (they ship with the code)."""
    path = directory / TRIAGE_FILE
    return load_triage_examples(path) if path.exists() else TriageExamples()
