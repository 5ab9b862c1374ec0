"""The knowledge base in the database, and each process's search index over it.

The index is a cache of database rows, checked against one revision counter
on every message: an edit made through any process (admin page, `kb import`)
is seen by the next question everywhere, without a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import catalogue_store
from bot.content.revision import bump_revision, revision
from bot.db import is_read_only, upsert_insert
from bot.memory import release_memory
from bot.models import (
    EmergencyAdvice,
    KnowledgeEntry,
    PhrasingVector,
    SynonymGroup,
    TrainedModel,
    TrainingExample,
)
from bot.timeutil import utcnow
from knowledge.catalogue import Catalogue
from knowledge.embeddings import Embedder, load_default, text_key
from knowledge.learned import Learned, digest
from knowledge.model import Entry, EntryLink, KnowledgeBase
from knowledge.training import TrainingData, examples
from knowledge.understand import Understander
from knowledge.vectors import VectorStore


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


async def load_training(session: AsyncSession) -> TrainingData:
    rows = (
        await session.execute(
            select(TrainingExample.label, TrainingExample.text).order_by(TrainingExample.id)
        )
    ).all()
    advice = (await session.execute(select(EmergencyAdvice.kind, EmergencyAdvice.advice))).all()
    return TrainingData.from_rows(
        [(label, text) for label, text in rows], {kind: text for kind, text in advice}
    )


async def import_training(session: AsyncSession, data: TrainingData) -> int:
    """Replace the training examples and emergency advice with `data` (a training file is
    the whole set, like the synonym list); the revision moves, so every process retrains."""
    await session.execute(delete(TrainingExample))
    await session.execute(delete(EmergencyAdvice))
    rows = [{"label": label, "text": text} for label, text in data.rows()]
    if rows:
        await session.execute(insert(TrainingExample), rows)
    session.add_all(EmergencyAdvice(kind=k, advice=v) for k, v in data.advice.items())
    await bump_revision(session)
    return len(rows)


async def training_is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(TrainingExample.id).limit(1)) is None


async def load_learned(session: AsyncSession, key: str) -> Learned | None:
    blob = await session.scalar(select(TrainedModel.blob).where(TrainedModel.digest == key))
    return Learned.from_bytes(blob) if blob is not None else None


async def load_newest_learned(session: AsyncSession) -> Learned | None:
    """The most recently stored models, which training after an edit starts from."""
    blob = await session.scalar(select(TrainedModel.blob).order_by(TrainedModel.created_at.desc()).limit(1))
    return Learned.from_bytes(blob) if blob is not None else None


KEEP_MODELS = 4  # stored model sets kept: the current one and a few recent (a revert is instant)


async def has_learned(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(TrainedModel.digest).where(TrainedModel.digest == key)) is not None


async def save_learned(session: AsyncSession, key: str, learned: Learned) -> None:
    await session.execute(
        upsert_insert(session, TrainedModel).on_conflict_do_nothing(index_elements=["digest"]),
        [{"digest": key, "blob": learned.to_bytes(), "created_at": utcnow()}],
    )
    recent = select(TrainedModel.digest).order_by(TrainedModel.created_at.desc()).limit(KEEP_MODELS)
    await session.execute(delete(TrainedModel).where(TrainedModel.digest.not_in(recent.scalar_subquery())))


async def load_vectors(
    session: AsyncSession, into: VectorStore | None = None
) -> tuple[VectorStore, set[str]]:
    """The stored vectors, added to `into` (those it lacks), and the keys the database holds.
    Read in parts: all 23,000 rows at once would be 40 MB of bytes objects for a moment."""
    store = into if into is not None else VectorStore()
    stored: set[str] = set()
    result = await session.stream(select(PhrasingVector.key, PhrasingVector.vector))
    async for part in result.partitions(2000):
        keys = [key for key, _ in part]
        stored.update(keys)
        store.add(keys, (blob for _, blob in part))
    return store, stored


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


# Every vector this process has read or computed, for every database it opened: a vector
# is a pure function of (model, text). The understanders read their vectors from it too,
# so in a server with one database there is one copy of them.
_VECTOR_MEMO = VectorStore()
_VECTOR_MEMO_MAX = 200_000  # about 300 MB at 384 float32s; beyond that, read from the database
# Trained models by the digest of their examples: pure functions of it, like vectors. About
# 20 MB each: the current set and the one before (training after an edit starts from it).
_LEARNED_MEMO: dict[str, Learned] = {}
_LEARNED_MEMO_MAX = 2
# Whole understanders by the same digest (immutable): a second hub or a restarted cache in
# this process on the same content skips loading vectors and models altogether. One that a
# cache replaced after an edit is dropped, not kept beside its successor (60 MB each).
_UNDERSTANDER_MEMO: dict[str, Understander] = {}
_UNDERSTANDER_MEMO_MAX = 3


def _vector_memo() -> VectorStore:
    global _VECTOR_MEMO
    if len(_VECTOR_MEMO) >= _VECTOR_MEMO_MAX:
        _VECTOR_MEMO = VectorStore()
    return _VECTOR_MEMO


class KnowledgeCache:
    """Per-process understander (knowledge base, service catalogue, training examples and
    the models learned from them), rebuilt when the database revision moves."""

    def __init__(self, *, embedder: Callable[[], Embedder | None] = load_default) -> None:
        self._embedder = embedder
        self._revision: int | None = None
        self._understander: Understander | None = None
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession) -> Understander:
        rev = await revision(session)
        if self._understander is not None and rev == self._revision:
            return self._understander
        async with self._lock:
            if self._understander is None or rev != self._revision:
                before = self._understander
                self._understander = await self._build(session)
                self._revision = rev
                if before is not None and before is not self._understander:
                    for whole, kept in list(_UNDERSTANDER_MEMO.items()):
                        if kept is before:
                            del _UNDERSTANDER_MEMO[whole]
                release_memory()
        return self._understander

    async def _build(self, session: AsyncSession) -> Understander:
        # Opening the sentence model (a third of a second) overlaps reading the content.
        opening = asyncio.ensure_future(asyncio.to_thread(self._embedder))
        try:
            kb = await load(session)
            catalogue = await catalogue_store.load(session)
            training = await load_training(session)
        finally:
            embedder = await opening
        key = digest(examples(training, kb, catalogue), embedder)
        # The models depend on the examples only; the understander on everything (answers too).
        content = repr((key, kb, catalogue, sorted(training.advice.items())))
        whole = hashlib.sha256(content.encode()).hexdigest()
        ready = _UNDERSTANDER_MEMO.get(whole)
        if ready is not None and await has_learned(session, key):
            # The same content, already understood in this process and stored in this
            # database (its vectors with it): nothing to load, build or save.
            return ready
        understander = await self._make(session, kb, catalogue, training, embedder, key)
        if len(_UNDERSTANDER_MEMO) >= _UNDERSTANDER_MEMO_MAX:
            _UNDERSTANDER_MEMO.pop(next(iter(_UNDERSTANDER_MEMO)))
        _UNDERSTANDER_MEMO[whole] = understander
        return understander

    async def _make(
        self,
        session: AsyncSession,
        kb: KnowledgeBase,
        catalogue: Catalogue,
        training: TrainingData,
        embedder: Embedder | None,
        key: str,
    ) -> Understander:
        # Vectors are a pure function of (model, text): what this process already computed
        # for another database or an earlier revision is reused.
        vectors, known = await load_vectors(session, into=_vector_memo())
        in_database = await load_learned(session, key)
        learned = in_database or _LEARNED_MEMO.get(key)
        previous = None
        if learned is None:  # to train: start from the models of the revision before
            before = self._understander
            previous = before.learned if before is not None else await load_newest_learned(session)
        # Building the index and training are CPU work; keep the event loop answering.
        understander = await asyncio.to_thread(
            Understander,
            kb,
            catalogue,
            training=training,
            embedder=embedder,
            vectors=vectors,
            learned=learned,
            previous=previous,
        )
        needed = {text_key(t) for _, t in understander.examples}  # entries' phrasings among them
        # A read-only session (Open311 GETs, history) must not write: on SQLite that
        # would need the write lock mid-transaction. What it computed stays in this
        # process's memos, and any later rebuild in a writing session stores it.
        if not is_read_only(session):
            await save_vectors(session, {k: vectors[k] for k in needed - known if k in vectors})
            if in_database is None:
                await save_learned(session, key, understander.learned)
        if embedder is not None:
            embedder.release_bulk()
        if len(_LEARNED_MEMO) >= _LEARNED_MEMO_MAX:
            _LEARNED_MEMO.pop(next(iter(_LEARNED_MEMO)))
        _LEARNED_MEMO[key] = understander.learned
        return understander
