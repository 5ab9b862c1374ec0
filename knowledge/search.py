"""Finding the knowledge base entry that answers a message.

BM25 over each entry's phrasings (question, alternatives, tags) and, with a
smaller weight, its answer; synonyms and spelling correction are applied to
both sides. Postings are numpy arrays, so a query costs a few vector adds
whatever the size of the base.

The score handed on is a confidence in 0..1, not raw BM25: how much of the
message's information the best entry covers, blended with how close the
message is to the entry's nearest phrasing. Zones (answer, "did you mean",
don't know) are decided on it by the caller.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.embeddings import Embedder, text_key
from knowledge.model import Entry
from knowledge.spelling import Speller
from knowledge.text import Synonyms, terms, words

CANDIDATES = 10
# Above this many phrasings the full product costs more than the rest of a message
# (memory-bound: 10,000 entries are ~45,000 phrasings, 70 MB a query). Entries are then
# ranked by their mean phrasing first and only the SHORTLIST best are scored exactly.
EXACT_ROWS = 16_000
SHORTLIST = 256
SEMANTIC_WEIGHT = 0.6
K1 = 1.2
B = 0.75
ANSWER_WEIGHT = 0.35


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float  # confidence 0..1
    raw: float  # BM25, for ordering and debugging


class _Field:
    """One BM25 field: term -> (doc indices, weights)."""

    def __init__(self, docs: Sequence[list[str]]) -> None:
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avg = float(lengths.mean()) if n and lengths.sum() else 1.0
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                postings[term].append((i, tf))
        self.idf: dict[str, float] = {}
        self.index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, plist in postings.items():
            df = len(plist)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            ids = np.fromiter((i for i, _ in plist), dtype=np.int32, count=df)
            tfs = np.fromiter((tf for _, tf in plist), dtype=np.float64, count=df)
            norm = K1 * (1 - B + B * lengths[ids] / avg)
            self.idf[term] = idf
            self.index[term] = (ids, idf * tfs * (K1 + 1) / (tfs + norm))

    def add_to(self, scores: np.ndarray, query: list[str], weight: float) -> None:
        for term in query:
            posting = self.index.get(term)
            if posting is not None:
                scores[posting[0]] += weight * posting[1]


class SearchIndex:
    """An immutable index over the active entries of one knowledge base revision."""

    def __init__(
        self,
        entries: Sequence[Entry],
        synonyms: Synonyms | None = None,
        *,
        embedder: Embedder | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
    ) -> None:
        """`vectors` is the caller's cache of phrasing vectors by `text_key`; vectors
        this index had to compute are added to it, for the caller to keep."""
        self.entries = tuple(e for e in entries if e.active)
        self.synonyms = synonyms or Synonyms()
        vocabulary: set[str] = set()
        for entry in self.entries:
            vocabulary.update(words(entry.search_text()))
        for group in self.synonyms.groups:
            for term in group:
                vocabulary.update(term.split())
        self.speller = Speller(vocabulary)
        self._phrasings = [[p.lower() for p in (e.question, *e.alternatives)] for e in self.entries]
        question_docs = [
            terms(" ".join((e.question, *e.alternatives, *e.tags, e.id.replace("-", " "))), self.synonyms)
            for e in self.entries
        ]
        answer_docs = [terms(e.answer, self.synonyms) for e in self.entries]
        self._questions = _Field(question_docs)
        self._answers = _Field(answer_docs)
        self._question_terms = [frozenset(d) for d in question_docs]
        self._answer_terms = [frozenset(d) for d in answer_docs]
        self.embedder = embedder
        self._semantic: _Semantic | None = None
        if embedder is not None and self.entries:
            self._semantic = _Semantic(embedder, self._phrasings_raw(), vectors)

    def _phrasings_raw(self) -> list[list[str]]:
        return [list(e.phrasings()) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def query_terms(self, text: str) -> list[str]:
        corrected = " ".join(self.speller.correct(w) for w in words(text))
        return terms(corrected, self.synonyms)

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        query = self.query_terms(text)
        if not self.entries or not (query or (self._semantic and text.strip())):
            return []
        scores = np.zeros(len(self.entries), dtype=np.float64)
        self._questions.add_to(scores, query, 1.0)
        self._answers.add_to(scores, query, ANSWER_WEIGHT)
        lexical_best = _top(scores, CANDIDATES)
        also = lexical_best if scores.any() else []
        semantic = self._semantic.similarities(text, also=also) if self._semantic else None
        if semantic is None and not scores.any():
            return []
        candidates = set(lexical_best)
        if semantic is not None:
            candidates |= set(_top(semantic, CANDIDATES))
        info = sum(self._questions.idf.get(t, self._unknown_idf()) for t in set(query))
        hits = []
        for i in candidates:
            lexical = self._confidence(text, query, i, info) if scores[i] > 0 else 0.0
            if semantic is None:
                score = lexical
            else:
                score = SEMANTIC_WEIGHT * _stretch(float(semantic[i])) + (1 - SEMANTIC_WEIGHT) * lexical
            if score > 0:
                hits.append(Hit(self.entries[i], round(min(1.0, score), 4), float(scores[i])))
        hits.sort(key=lambda h: (h.score, h.raw), reverse=True)
        return hits[: max(limit, 1)]

    def _unknown_idf(self) -> float:
        n = len(self.entries)
        return math.log(1 + (n + 0.5) / 0.5)

    def _confidence(self, text: str, query: list[str], i: int, info: float) -> float:
        """Share of the message's information the entry covers, and closeness of wording."""
        covered = 0.0
        for term in set(query):
            if term in self._question_terms[i]:
                covered += self._questions.idf[term]
            elif term in self._answer_terms[i]:
                covered += ANSWER_WEIGHT * self._questions.idf.get(term, self._unknown_idf())
        coverage = covered / info if info else 0.0
        said = text.lower()
        # One call over the phrasings: rapidfuzz loops in C (4x a loop of Python calls).
        best = process.extractOne(said, self._phrasings[i], scorer=fuzz.token_set_ratio)
        closeness = (best[1] if best else 0.0) / 100.0
        return round(min(1.0, 0.65 * coverage + 0.35 * closeness), 4)


def _top(values: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest values (unordered), without sorting them all."""
    if len(values) <= k:
        return list(range(len(values)))
    return np.argpartition(-values, k)[:k].tolist()  # type: ignore[no-any-return]


def _stretch(cosine: float) -> float:
    """Map MiniLM cosine to 0..1: unrelated texts sit near 0.1-0.3, paraphrases above 0.6."""
    return min(1.0, max(0.0, (cosine - 0.25) / 0.55))


class _Semantic:
    """Each entry's phrasings as unit vectors; an entry's similarity is its best phrasing's."""

    def __init__(
        self, embedder: Embedder, phrasings: list[list[str]], cache: MutableMapping[str, np.ndarray] | None
    ) -> None:
        self.embedder = embedder
        cache = cache if cache is not None else {}
        flat = [p for group in phrasings for p in group]
        keys = [text_key(p) for p in flat]
        missing = [(k, p) for k, p in dict(zip(keys, flat, strict=True)).items() if k not in cache]
        if missing:
            fresh = embedder.encode([p for _, p in missing])
            for (key, _), vector in zip(missing, fresh, strict=True):
                cache[key] = vector
        self.matrix = np.vstack([cache[k] for k in keys]).astype(np.float32)
        self.sizes = np.array([len(g) for g in phrasings])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.means: np.ndarray | None = None
        if len(self.matrix) > EXACT_ROWS:
            self.means = (np.add.reduceat(self.matrix, self.starts) / self.sizes[:, None]).astype(np.float32)

    def similarities(self, text: str, also: Sequence[int] = ()) -> np.ndarray:
        """Each entry's best phrasing's cosine to the message. In a huge base, entries off
        the shortlist (and not in `also`) get their mean phrasing's cosine instead, which
        is never more than their best: they can only be under-rated, never pushed ahead."""
        query = self.embedder.encode_one(text)
        if self.means is None:
            return np.maximum.reduceat(self.matrix @ query, self.starts)
        result: np.ndarray = self.means @ query
        for i in set(_top(result, SHORTLIST)) | set(also):
            start = self.starts[i]
            result[i] = float((self.matrix[start : start + self.sizes[i]] @ query).max())
        return result
