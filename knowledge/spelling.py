"""Correcting misspelt words to the knowledge base's own vocabulary.

rapidfuzz finds the closest known word; a general English word list guards
real words from being "corrected" (fight -> light), so only words that are
neither ours nor English are changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    try:
        from spellchecker import SpellChecker
    except ImportError:  # the guard is a refinement; without it only our vocabulary counts
        return frozenset()
    return frozenset(SpellChecker().word_frequency.keys())


class Speller:
    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = frozenset(w for w in vocabulary if len(w) >= 3 and w.isalpha())
        self._choices = sorted(self.vocabulary)
        self._cache: dict[str, str] = {}

    def correct(self, word: str) -> str:
        if len(word) < 4 or not word.isalpha() or word in self.vocabulary:
            return word
        if word in self._cache:
            return self._cache[word]
        fixed = word
        if word not in _english() or len(word) >= 12:
            fixed = self._closest(word) or word
        if len(self._cache) < 100_000:
            self._cache[word] = fixed
        return fixed

    def _closest(self, word: str) -> str | None:
        limit = 1 if len(word) <= 5 else 2
        candidates = process.extract(word, self._choices, scorer=fuzz.ratio, score_cutoff=70, limit=5)
        best: tuple[int, float, str] | None = None
        for candidate, score, _ in candidates:
            distance = DamerauLevenshtein.distance(word, candidate)
            if distance <= limit and (best is None or (distance, -score) < (best[0], -best[1])):
                best = (distance, score, candidate)
        return best[2] if best else None
